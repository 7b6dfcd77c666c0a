//! The same store tests against embedded SQLite and against the PostgreSQL server named by
//! `SHIREN_TEST_POSTGRES` (default: the local server's `test` database). Each PostgreSQL run
//! works in a fresh database of its own, dropped afterwards.

use sqlx::any::AnyPoolOptions;
use sqlx::{AssertSqlSafe, Row};

use super::*;

pub(crate) const DEFAULT_TEST_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/test";

fn keys() -> Keyring {
    Keyring::from_bytes([42; 32])
}

/// A scratch PostgreSQL database; `None` (with a note) when no server answers outside CI.
pub(crate) async fn scratch_postgres() -> Option<(String, String)> {
    let admin_url = std::env::var("SHIREN_TEST_POSTGRES").unwrap_or_else(|_| DEFAULT_TEST_POSTGRES.to_string());
    sqlx::any::install_default_drivers();
    let admin = match AnyPoolOptions::new().max_connections(1).connect(&admin_url).await {
        Ok(pool) => pool,
        Err(e) if std::env::var_os("CI").is_none() => {
            eprintln!("skipping PostgreSQL half: {admin_url} unreachable ({e}); CI runs it");
            return None;
        }
        Err(e) => panic!("PostgreSQL at {admin_url} is required in CI: {e}"),
    };
    let name = format!("shiren_test_{}", random_token(12).unwrap().to_lowercase());
    // The name is our own random lowercase token.
    sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&admin).await.unwrap();
    admin.close().await;
    let base = admin_url.rsplit_once('/').map(|(b, _)| b.to_string()).unwrap();
    Some((format!("{base}/{name}"), name))
}

async fn drop_postgres(name: &str) {
    let admin_url = std::env::var("SHIREN_TEST_POSTGRES").unwrap_or_else(|_| DEFAULT_TEST_POSTGRES.to_string());
    if let Ok(admin) = AnyPoolOptions::new().max_connections(1).connect(&admin_url).await {
        let _ =
            sqlx::raw_sql(AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))).execute(&admin).await;
    }
}

async fn each_database(check: impl AsyncFn(Store)) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(&Store::sqlite_url(dir.path()), keys()).await.unwrap();
    assert_eq!(store.kind(), DbKind::Sqlite);
    check(store).await;
    if let Some((url, name)) = scratch_postgres().await {
        let store = Store::connect(&url, keys()).await.unwrap();
        assert_eq!(store.kind(), DbKind::Postgres);
        check(store.clone()).await;
        store.close().await;
        drop_postgres(&name).await;
    }
}

fn record(id: &str, scene: &str, passed: bool, at: i64) -> RecordRow {
    RecordRow {
        id: id.into(),
        scene_id: scene.into(),
        product: "PV_FC".into(),
        passed,
        sub_code: if passed { "200".into() } else { "204".into() },
        score: Some(if passed { 91.5 } else { 12.0 }),
        quality_score: None,
        attack_score: None,
        order_no: Some(format!("order-{id}")),
        name_masked: Some("张*".into()),
        id_number_masked: Some("1****************X".into()),
        id_number_hash: Some(format!("hash-{id}")),
        access_key_id: "SRkey".into(),
        timings: "{}".into(),
        detail: "{\"similarity\":0.7}".into(),
        image_count: 0,
        created_at: at,
        expires_at: Some(at + 1000),
    }
}

#[tokio::test]
async fn access_keys_keep_secrets_encrypted() {
    each_database(async |store: Store| {
        let (key, secret) = store.create_access_key(Policy::Readonly, "auditor").await.unwrap();
        assert_eq!(secret.len(), 32);
        let (loaded, loaded_secret) = store.access_key_with_secret(&key.id).await.unwrap().unwrap();
        assert_eq!(loaded, key);
        assert_eq!(loaded_secret, secret);
        // The secret is not in the table in the clear.
        let raw: Vec<u8> = sqlx::query("SELECT secret_enc FROM access_keys WHERE id = $1")
            .bind(&key.id)
            .fetch_one(&store.pool)
            .await
            .unwrap()
            .try_get("secret_enc")
            .unwrap();
        assert!(!raw.windows(secret.len()).any(|w| w == secret.as_bytes()));
        assert!(store.set_access_key_status(&key.id, false).await.unwrap());
        assert_eq!(store.list_access_keys().await.unwrap()[0].status, "disabled");
        assert!(store.delete_access_key(&key.id).await.unwrap());
        assert!(store.access_key_with_secret(&key.id).await.unwrap().is_none());
    })
    .await;
}

#[tokio::test]
async fn a_nonce_is_accepted_once() {
    each_database(async |store: Store| {
        assert!(store.remember_nonce("k", "n1", 100).await.unwrap());
        assert!(!store.remember_nonce("k", "n1", 100).await.unwrap());
        assert!(store.remember_nonce("other", "n1", 100).await.unwrap());
        assert_eq!(store.purge_nonces(101).await.unwrap(), 2);
    })
    .await;
}

#[tokio::test]
async fn records_filter_page_count_and_delete() {
    each_database(async |store: Store| {
        let day = shiren_calendar::days_from_civil(2026, 11, 20) * shiren_calendar::MS_PER_DAY;
        for i in 0..5 {
            let r = record(&format!("r{i}"), if i < 3 { "a" } else { "b" }, i % 2 == 0, day + i * 1000);
            let images = if i == 0 {
                vec![ImageRef {
                    record_id: "r0".into(),
                    idx: 0,
                    object_key: "k".into(),
                    content_type: "image/jpeg".into(),
                    bytes: 3,
                }]
            } else {
                vec![]
            };
            store.insert_record(&r, &images, 1).await.unwrap();
        }
        let all = store.list_records(&RecordFilter::default(), Paging::new(1, 2, 100).unwrap()).await.unwrap();
        assert_eq!((all.total, all.items.len()), (5, 2));
        assert_eq!(all.items[0].id, "r4", "newest first");
        let f = RecordFilter { scene_id: Some("a".into()), passed: Some(true), ..Default::default() };
        let page = store.list_records(&f, page1()).await.unwrap();
        assert_eq!(page.items.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), vec!["r2", "r0"]);
        let f = RecordFilter { from_ms: Some(day + 1000), to_ms: Some(day + 3000), ..Default::default() };
        assert_eq!(store.list_records(&f, page1()).await.unwrap().total, 2);
        let f = RecordFilter {
            id_number_hash: Some("hash-r3".into()),
            order_no: Some("order-r3".into()),
            ..Default::default()
        };
        assert_eq!(store.list_records(&f, page1()).await.unwrap().items[0].id, "r3");

        let stats = store.statistics(Some("a"), "2026-11-20", "2026-11-20").await.unwrap();
        assert_eq!(stats.len(), 1);
        assert_eq!((stats[0].submissions, stats[0].passes, stats[0].failures, stats[0].comparisons), (3, 2, 1, 3));

        let images = store.delete_record("r0").await.unwrap().unwrap();
        assert_eq!(images.len(), 1);
        assert!(store.record("r0").await.unwrap().is_none());
        assert!(store.delete_record("r0").await.unwrap().is_none());
        // The image object stays queued until object storage confirms it is gone.
        let now = now_ms();
        assert_eq!(store.pending_object_deletions(now, 10).await.unwrap(), vec!["k".to_string()]);
        assert_eq!(store.pending_object_deletions(now, 10).await.unwrap(), vec!["k".to_string()], "retried");
        store.object_deleted("k").await.unwrap();
        assert!(store.pending_object_deletions(now, 10).await.unwrap().is_empty());

        // Objects queued before they are written: out of the sweeper's reach during the grace,
        // dequeued by the record that references them, deleted after it when no record came.
        store.queue_object_writes("r5", &["k5".to_string()]).await.unwrap();
        store.queue_object_writes("r6", &["k6".to_string()]).await.unwrap();
        assert!(store.pending_object_deletions(now_ms(), 10).await.unwrap().is_empty(), "within the grace");
        let image5 = ImageRef {
            record_id: "r5".into(),
            idx: 0,
            object_key: "k5".into(),
            content_type: "image/jpeg".into(),
            bytes: 3,
        };
        store.insert_record(&record("r5", "b", true, day + 5000), &[image5], 1).await.unwrap();
        let after_grace = now_ms() + crate::OBJECT_WRITE_GRACE_MS + 1;
        assert_eq!(store.pending_object_deletions(after_grace, 10).await.unwrap(), vec!["k6".to_string()]);
        store.object_deleted("k6").await.unwrap();
        // Statistics outlive deleted records.
        assert_eq!(store.statistics(None, "2026-11-20", "2026-11-20").await.unwrap().len(), 2);
        store.delete_record("r5").await.unwrap();
        assert_eq!(store.expired_records(day + 1000 + 1001, 10).await.unwrap(), vec!["r1".to_string()]);
    })
    .await;
}

#[tokio::test]
async fn scenes_audit_and_authority() {
    each_database(async |store: Store| {
        let s = store.create_scene("login", "{\"far\":\"1e-4\"}").await.unwrap();
        assert_eq!(store.list_scenes().await.unwrap().len(), 1);
        let updated = store.update_scene(&s.id, "login v2", "{}").await.unwrap().unwrap();
        assert_eq!(updated.name, "login v2");
        assert!(store.delete_scene(&s.id).await.unwrap());
        assert!(store.scene(&s.id).await.unwrap().is_none());
        assert!(store.update_scene(&s.id, "x", "{}").await.unwrap().is_none());

        let event = AuditEvent {
            actor: "SRkey",
            action: "scene.delete",
            target: &s.id,
            detail: "{}",
            request_id: "rq1",
            client_request_id: Some("theirs"),
            source: Some("127.0.0.1"),
        };
        store.audit(&event).await.unwrap();
        let log = store.list_audit(0, i64::MAX, page1()).await.unwrap();
        assert_eq!((log.total, log.items[0].action.as_str()), (1, "scene.delete"));
        assert_eq!(
            (
                log.items[0].request_id.as_str(),
                log.items[0].client_request_id.as_deref(),
                log.items[0].source.as_deref()
            ),
            ("rq1", Some("theirs"), Some("127.0.0.1"))
        );

        let entry = AuthorityEntry {
            id_number_hash: "h".into(),
            name_hash: "n".into(),
            id_number_masked: "1*X".into(),
            name_masked: "张*".into(),
            template_enc: Some(vec![1, 2, 3]),
            created_at: 5,
        };
        store.upsert_authority(&entry).await.unwrap();
        store.upsert_authority(&AuthorityEntry { name_hash: "n2".into(), ..entry }).await.unwrap();
        let got = store.authority("h").await.unwrap().unwrap();
        assert_eq!((got.name_hash.as_str(), got.template_enc), ("n2", Some(vec![1, 2, 3])));
    })
    .await;
}

#[tokio::test]
async fn images_are_encrypted_at_rest_and_links_expire_by_signature() {
    let dir = tempfile::tempdir().unwrap();
    let images = images::ImageStore::local(dir.path(), keys()).unwrap();
    let photo = b"\xFF\xD8 pretend this is a face photo \xFF\xD9".to_vec();
    let key = images.put("rec1", 0, &photo).await.unwrap();
    let on_disk = std::fs::read(dir.path().join(&key)).unwrap();
    assert!(!on_disk.windows(10).any(|w| photo.windows(10).any(|p| p == w)));
    assert_eq!(images.get("rec1", 0, &key).await.unwrap(), photo);
    assert!(images.get("rec2", 0, &key).await.is_err(), "bound to its record");
    let sig = images.link_signature("rec1", 0, 1000, "SRkey");
    assert!(images.verify_link("rec1", 0, 1000, "SRkey", &sig));
    assert!(!images.verify_link("rec1", 0, 1001, "SRkey", &sig));
    assert!(!images.verify_link("rec1", 0, 1000, "SRother", &sig), "bound to the key that made it");
    images.delete(&key).await.unwrap();
    images.delete(&key).await.unwrap();
    assert!(!dir.path().join(&key).exists());
}

fn page1() -> Paging {
    Paging::new(1, 10, 100).unwrap()
}

#[test]
fn paging_refuses_what_would_overflow() {
    assert_eq!(Paging::new(3, 20, 100).and_then(|p| p.offset()), Some(40));
    assert_eq!(Paging::new(1, 1000, 100).map(|p| p.page_size), Some(100));
    assert!(Paging::new(0, 20, 100).is_none());
    assert!(Paging::new(-5, 20, 100).is_none());
    assert!(Paging::new(i64::MAX, 20, 100).is_none());
    assert!(Paging::new(i64::MAX / 100 + 2, 100, 100).is_none());
}

#[tokio::test]
async fn malformed_stored_values_are_errors_not_guesses() {
    each_database(async |store: Store| {
        let (key, _) = store.create_access_key(Policy::Full, "").await.unwrap();
        sqlx::query("UPDATE access_keys SET policy = 'root' WHERE id = $1")
            .bind(&key.id)
            .execute(&store.pool)
            .await
            .unwrap();
        let err = store.list_access_keys().await.unwrap_err();
        assert!(err.to_string().contains("unknown access-key policy \"root\""), "{err}");
        assert!(store.access_key_with_secret(&key.id).await.is_err());

        store.insert_record(&record("r", "a", true, 0), &[], 1).await.unwrap();
        assert!(store.record("r").await.unwrap().unwrap().passed);
        sqlx::query("UPDATE records SET passed = 2 WHERE id = 'r'").execute(&store.pool).await.unwrap();
        let err = store.record("r").await.unwrap_err();
        assert!(err.to_string().contains("2 where 0 or 1 was stored"), "{err}");
    })
    .await;
}

#[test]
fn a_store_configuration_defaults_to_the_data_directory() {
    let config = StoreConfig::in_dir("/srv/shiren");
    assert_eq!(config.database_url(), "sqlite:///srv/shiren/shiren.db?mode=rwc");
    assert!(
        matches!(config.object_location(), images::ObjectLocation::Directory(dir) if dir == Path::new("/srv/shiren/images"))
    );
    let config = StoreConfig {
        database_url: Some("postgres://db/shiren".into()),
        master_key: Some("secret".into()),
        object_store: Some("s3://faces/".into()),
        ..config
    };
    assert_eq!(config.database_url(), "postgres://db/shiren");
    assert!(matches!(config.object_location(), images::ObjectLocation::S3 { bucket } if bucket == "faces"));
    assert!(!format!("{config:?}").contains("secret"), "the master key stays out of logs");
}

#[tokio::test]
async fn open_prepares_a_private_data_directory_and_keeps_its_master_key() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let config = StoreConfig::in_dir(dir.path().join("nested/data"));
    let store = Store::open(&config).await.unwrap();
    assert_eq!(store.kind(), DbKind::Sqlite);
    let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&config.data_dir), 0o700);
    for file in ["master.key", "shiren.db"] {
        assert_eq!(mode(&config.data_dir.join(file)) & 0o077, 0, "{file}");
    }
    let (key, secret) = store.create_access_key(Policy::Full, "").await.unwrap();
    store.close().await;
    // Opened again, the same master key decrypts what the first opening stored.
    let store = Store::open(&config).await.unwrap();
    assert_eq!(store.access_key_with_secret(&key.id).await.unwrap().unwrap().1, secret);
    store.close().await;
    // A master key given in the configuration wins over the file.
    let other_key = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
    let store = Store::open(&StoreConfig { master_key: Some(other_key.into()), ..config.clone() }).await.unwrap();
    assert!(matches!(store.access_key_with_secret(&key.id).await, Err(StoreError::Crypto)));
    store.close().await;
    let bad = StoreConfig { master_key: Some("too short".into()), ..config.clone() };
    assert!(matches!(Store::open(&bad).await, Err(StoreError::Config(_))));

    let images = images::ImageStore::open_config(&config, Keyring::from_bytes([7; 32])).unwrap();
    let object = images.put("rec", 0, b"face").await.unwrap();
    assert!(config.data_dir.join("images").join(&object).is_file());
}

#[test]
fn a_data_directory_that_cannot_be_created_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"").unwrap();
    let err = prepare_data_dir(&file.join("data")).unwrap_err();
    assert!(matches!(err, StoreError::DataDir { .. }), "{err:?}");
    assert!(err.to_string().starts_with(&format!("data directory {}", file.join("data").display())), "{err}");
}

fn new_face<'a>(gallery_id: &'a str, external_id: &'a str, template: &'a [u8], source: &str) -> NewFace<'a> {
    NewFace {
        source_hash: Some(source.to_string()),
        quality: Some(0.9),
        ..NewFace::template_only(gallery_id, external_id, template)
    }
}

#[tokio::test]
async fn gallery_faces_are_logged_in_order_and_removals_follow() {
    each_database(async |store: Store| {
        let gallery = store.create_gallery("staff", "").await.unwrap().unwrap();
        assert!(store.create_gallery("staff", "again").await.unwrap().is_none(), "names are unique");
        assert_eq!(store.gallery("staff").await.unwrap().unwrap().id, gallery.id);
        let head = store.gallery_log_head().await.unwrap();

        let t1 = [1u8; 16];
        let FaceAdded::Added { face_key: k1, person_id: p1, person_created: true } =
            store.add_face(&new_face(&gallery.id, "emp-1", &t1, "h1")).await.unwrap()
        else {
            panic!("first face adds a person")
        };
        let FaceAdded::Added { face_key: k2, person_id: p1b, person_created: false } =
            store.add_face(&new_face(&gallery.id, "emp-1", &[2u8; 16], "h2")).await.unwrap()
        else {
            panic!("second face joins the person")
        };
        assert_eq!(p1, p1b);
        assert_eq!(
            store.add_face(&new_face(&gallery.id, "emp-2", &[3u8; 16], "h1")).await.unwrap(),
            FaceAdded::AlreadyEnrolled { face_key: k1, person_id: p1.clone() },
            "the same photo twice is refused"
        );
        assert_eq!(store.add_face(&new_face("nope", "x", &t1, "h9")).await.unwrap(), FaceAdded::NoSuchGallery);
        let FaceAdded::Added { face_key: k3, person_id: p2, .. } =
            store.add_face(&new_face(&gallery.id, "emp-2", &[3u8; 16], "h3")).await.unwrap()
        else {
            panic!("third face")
        };
        assert_eq!((k1, k2, k3), (head + 1, head + 2, head + 3), "refused adds take no number");

        // Templates are sealed to their face: stored bytes are not the template.
        let raw: Vec<u8> = sqlx::query_scalar("SELECT template_enc FROM gallery_faces WHERE face_key = $1")
            .bind(k1)
            .fetch_one(&store.pool)
            .await
            .unwrap();
        assert!(!raw.windows(16).any(|w| w == t1));
        let templates = store.face_templates(&gallery.id, 0, 10).await.unwrap();
        assert!(store.face_templates("another", 0, 10).await.unwrap().is_empty());
        assert_eq!(store.face_templates(&gallery.id, k1, 1).await.unwrap()[0].face_key, k2);
        assert_eq!(store.gallery_ids().await.unwrap(), vec![gallery.id.clone()]);
        assert_eq!(templates.iter().map(|t| t.face_key).collect::<Vec<_>>(), vec![k1, k2, k3]);
        assert_eq!(templates[0].template, t1);

        assert_eq!(store.remove_face(&gallery.id, k2).await.unwrap(), Some(None));
        assert_eq!(store.remove_face(&gallery.id, k2).await.unwrap(), None, "removed once");
        assert_eq!(store.remove_person(&gallery.id, &p2).await.unwrap(), Some(vec![]));
        let stats = store.gallery_stats(&gallery.id).await.unwrap().unwrap();
        assert_eq!((stats.persons, stats.faces), (1, 1));
        let owners = store.face_owners(&[k1, k2, k3]).await.unwrap();
        assert_eq!(owners.len(), 1, "only faces that still exist have owners");
        assert_eq!(owners[0].external_id, "emp-1");

        let changes = store.gallery_changes(head, 100).await.unwrap();
        let ops: Vec<ChangeOp> = changes.iter().map(|c| c.op).collect();
        assert_eq!(
            ops,
            vec![
                ChangeOp::Add { face_key: k1 },
                ChangeOp::Add { face_key: k2 },
                ChangeOp::Add { face_key: k3 },
                ChangeOp::Remove { face_key: k2 },
                ChangeOp::Remove { face_key: k3 },
            ]
        );
        assert_eq!(changes[0].template.as_deref(), Some(&t1[..]));
        assert!(changes[1].template.is_none(), "a face removed since has no template to add");
        assert!(changes.windows(2).all(|w| w[1].seq == w[0].seq + 1), "no gaps");

        assert!(store.delete_gallery(&gallery.id).await.unwrap().is_some());
        assert!(store.delete_gallery(&gallery.id).await.unwrap().is_none());
        let last = store.gallery_changes(head + 5, 10).await.unwrap();
        assert_eq!(last.iter().map(|c| c.op).collect::<Vec<_>>(), vec![ChangeOp::Drop]);
        assert!(store.face_templates(&gallery.id, 0, 10).await.unwrap().is_empty());
        assert!(store.gallery_ids().await.unwrap().is_empty());
    })
    .await;
}

#[tokio::test]
async fn concurrent_gallery_writes_commit_in_number_order() {
    each_database(async |store: Store| {
        let gallery = store.create_gallery("busy", "").await.unwrap().unwrap();
        let head = store.gallery_log_head().await.unwrap();
        let writers: Vec<_> = (0..8)
            .map(|w| {
                let store = store.clone();
                let gallery = gallery.id.clone();
                tokio::spawn(async move {
                    for i in 0..10 {
                        let template = [w as u8; 8];
                        let person = format!("p{w}");
                        let source = format!("{w}-{i}");
                        store.add_face(&new_face(&gallery, &person, &template, &source)).await.unwrap();
                    }
                })
            })
            .collect();
        // A reader following the log while they write never sees a number before the ones below it.
        let mut seen = head;
        let mut followed = 0;
        while followed < 80 {
            for change in store.gallery_changes(seen, 1000).await.unwrap() {
                assert_eq!(change.seq, seen + 1, "a change became visible before an earlier one");
                seen = change.seq;
                followed += 1;
            }
            tokio::task::yield_now().await;
        }
        for w in writers {
            w.await.unwrap();
        }
        assert_eq!(store.gallery_log_head().await.unwrap(), head + 80);
        assert_eq!(store.gallery_stats(&gallery.id).await.unwrap().unwrap().faces, 80);
    })
    .await;
}

#[tokio::test]
async fn index_snapshots_round_trip_and_refuse_what_is_not_theirs() {
    let dir = tempfile::tempdir().unwrap();
    let objects = images::ImageStore::local(dir.path(), keys()).unwrap();
    assert!(objects.get_index_snapshot("g1").await.unwrap().is_none());
    // Two full chunks and a part of a third, with a recognisable pattern.
    let graph: Vec<u8> = (0..(40usize << 20)).map(|i| (i % 251) as u8).collect();
    objects.put_index_snapshot("g1", 42, &graph).await.unwrap();
    objects.put_index_snapshot("g2", 7, &[]).await.unwrap();
    let got = objects.get_index_snapshot("g1").await.unwrap().unwrap();
    assert_eq!((got.seq, got.bytes.len()), (42, graph.len()));
    assert!(got.bytes == graph);
    let empty = objects.get_index_snapshot("g2").await.unwrap().unwrap();
    assert_eq!((empty.seq, empty.bytes.len()), (7, 0));
    let mut listed = objects.index_snapshot_galleries().await.unwrap();
    listed.sort();
    assert_eq!(listed, vec!["g1", "g2"]);

    // At rest it is ciphertext: the pattern is nowhere in the file.
    let path = dir.path().join("index-snapshots/g1.bin");
    let sealed = std::fs::read(&path).unwrap();
    assert!(!sealed.windows(64).any(|w| w == &graph[1000..1064]));
    // Another gallery's snapshot under this gallery's name, a truncated one, another master key.
    std::fs::copy(&path, dir.path().join("index-snapshots/g3.bin")).unwrap();
    assert!(matches!(objects.get_index_snapshot("g3").await, Err(StoreError::Crypto)));
    std::fs::write(&path, &sealed[..sealed.len() - 100]).unwrap();
    assert!(matches!(objects.get_index_snapshot("g1").await, Err(StoreError::Corrupt(_))));
    let stranger = images::ImageStore::local(dir.path(), Keyring::from_bytes([9; 32])).unwrap();
    assert!(matches!(stranger.get_index_snapshot("g2").await, Err(StoreError::Crypto)));

    objects.delete_index_snapshot("g1").await.unwrap();
    objects.delete_index_snapshot("g1").await.unwrap();
    assert!(objects.get_index_snapshot("g1").await.unwrap().is_none());
}
