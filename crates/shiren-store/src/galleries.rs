//! 1:N face galleries: the `galleries`, `gallery_persons` and `gallery_faces` tables and the
//! change log (`gallery_changes`, `gallery_log_head`) that every node's search index follows.
//!
//! Every write that changes which faces exist takes its numbers from the log head inside its
//! own transaction (see the migration for why that orders commits), writes its rows and its
//! log entries, and commits: a face is either wholly there (row, template, log entry) or not at
//! all, whoever dies when. Templates are sealed here, with the face key as context, so that a
//! template copied onto another face's row does not open.

use serde::Serialize;
use sqlx::{Any, FromRow, Row, Transaction};

use crate::crypto::Purpose;
use crate::{Result, Store, StoreError, new_id, now_ms};

#[derive(Debug, Clone, Serialize, FromRow)]
pub struct GalleryRow {
    pub id: String,
    pub name: String,
    pub description: String,
    pub created_at: i64,
}

/// A gallery with its size.
#[derive(Debug, Clone, Serialize)]
pub struct GalleryStats {
    #[serde(flatten)]
    pub gallery: GalleryRow,
    pub persons: i64,
    pub faces: i64,
}

#[derive(Debug, Clone, FromRow)]
pub struct PersonRow {
    pub id: String,
    pub gallery_id: String,
    pub external_id: String,
    pub attributes_enc: Option<Vec<u8>>,
    pub created_at: i64,
}

/// A face as listings show it (never its template).
#[derive(Debug, Clone, Serialize, FromRow)]
pub struct FaceRow {
    pub face_key: i64,
    pub gallery_id: String,
    pub person_id: String,
    pub quality: Option<f64>,
    pub image_key: Option<String>,
    pub created_at: i64,
}

/// Who a face belongs to, for turning search hits into persons.
#[derive(Debug, Clone, FromRow)]
pub struct FaceOwner {
    pub face_key: i64,
    pub gallery_id: String,
    pub person_id: String,
    pub external_id: String,
}

/// A face to add.
#[derive(Debug, Clone)]
pub struct NewFace<'a> {
    pub gallery_id: &'a str,
    pub external_id: &'a str,
    /// The person's attributes, sealed by the caller's layer; set when the person is created
    /// and replaced when given again.
    pub attributes_enc: Option<Vec<u8>>,
    /// The face template (little-endian f32s); sealed here.
    pub template: &'a [u8],
    /// A keyed hash of the photo: a second face from the same photo in the same gallery is
    /// refused ([`FaceAdded::AlreadyEnrolled`]).
    pub source_hash: Option<String>,
    pub quality: Option<f64>,
    /// The kept photo's object key, queued for deletion beforehand under `image_owner` (see
    /// [`Store::queue_object_writes`]); dequeued when the face commits.
    pub image: Option<(String, String)>,
}

impl<'a> NewFace<'a> {
    /// A face of `external_id` with only its template: no attributes, photo hash, quality or
    /// kept photo (bulk loads of templates made elsewhere, and tests).
    pub fn template_only(gallery_id: &'a str, external_id: &'a str, template: &'a [u8]) -> Self {
        Self { gallery_id, external_id, attributes_enc: None, template, source_hash: None, quality: None, image: None }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaceAdded {
    Added {
        face_key: i64,
        person_id: String,
        person_created: bool,
    },
    /// The gallery holds a face from this very photo already.
    AlreadyEnrolled {
        face_key: i64,
        person_id: String,
    },
    NoSuchGallery,
}

/// One entry of the change log, with the template of an added face that still exists.
#[derive(Debug, Clone)]
pub struct GalleryChange {
    pub seq: i64,
    pub op: ChangeOp,
    pub gallery_id: String,
    /// The face's template, opened; `None` for an added face removed since.
    pub template: Option<Vec<u8>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeOp {
    Add { face_key: i64 },
    Remove { face_key: i64 },
    Drop,
}

/// A face with its opened template, for building an index.
#[derive(Debug, Clone)]
pub struct StoredTemplate {
    pub face_key: i64,
    pub gallery_id: String,
    pub template: Vec<u8>,
}

fn template_context(face_key: i64) -> String {
    format!("gallery-face:{face_key}")
}

/// Takes `count` numbers from the log head; returns the first. Holds the head's row lock until
/// the transaction ends.
async fn take_seq(tx: &mut Transaction<'_, Any>, count: i64) -> Result<i64> {
    let last: i64 = sqlx::query_scalar("UPDATE gallery_log_head SET seq = seq + $1 WHERE id = 1 RETURNING seq")
        .bind(count)
        .fetch_one(&mut **tx)
        .await?;
    Ok(last - count + 1)
}

async fn log_change(
    tx: &mut Transaction<'_, Any>,
    seq: i64,
    op: &str,
    gallery_id: &str,
    face_key: Option<i64>,
) -> Result<()> {
    sqlx::query("INSERT INTO gallery_changes (seq, op, gallery_id, face_key, at) VALUES ($1, $2, $3, $4, $5)")
        .bind(seq)
        .bind(op)
        .bind(gallery_id)
        .bind(face_key)
        .bind(now_ms())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Removes `faces` (keys with their image keys) in an open transaction, logging each; returns the
/// image objects to delete.
async fn remove_faces(
    tx: &mut Transaction<'_, Any>,
    gallery_id: &str,
    faces: &[(i64, Option<String>)],
) -> Result<Vec<String>> {
    if faces.is_empty() {
        return Ok(Vec::new());
    }
    let first = take_seq(tx, faces.len() as i64).await?;
    let mut images = Vec::new();
    for (offset, (face_key, image_key)) in faces.iter().enumerate() {
        sqlx::query("DELETE FROM gallery_faces WHERE face_key = $1").bind(face_key).execute(&mut **tx).await?;
        log_change(tx, first + offset as i64, "remove", gallery_id, Some(*face_key)).await?;
        if let Some(key) = image_key {
            queue_image_deletion(tx, key).await?;
            images.push(key.clone());
        }
    }
    Ok(images)
}

async fn queue_image_deletion(tx: &mut Transaction<'_, Any>, object_key: &str) -> Result<()> {
    sqlx::query(
        "INSERT INTO object_deletions (object_key, record_id, due_at) VALUES ($1, $2, $3) ON CONFLICT (object_key) DO NOTHING",
    )
    .bind(object_key)
    .bind("gallery")
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl Store {
    /// `None` when the name is taken.
    pub async fn create_gallery(&self, name: &str, description: &str) -> Result<Option<GalleryRow>> {
        let gallery =
            GalleryRow { id: new_id("gl"), name: name.into(), description: description.into(), created_at: now_ms() };
        let done = sqlx::query(
            "INSERT INTO galleries (id, name, description, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO NOTHING",
        )
        .bind(&gallery.id)
        .bind(&gallery.name)
        .bind(&gallery.description)
        .bind(gallery.created_at)
        .execute(&self.pool)
        .await?;
        Ok((done.rows_affected() > 0).then_some(gallery))
    }

    /// A gallery by id, or else by name.
    pub async fn gallery(&self, id_or_name: &str) -> Result<Option<GalleryRow>> {
        Ok(sqlx::query_as("SELECT * FROM galleries WHERE id = $1 OR name = $1 ORDER BY id = $1 DESC LIMIT 1")
            .bind(id_or_name)
            .fetch_optional(&self.pool)
            .await?)
    }

    pub async fn list_galleries(&self) -> Result<Vec<GalleryStats>> {
        let rows = sqlx::query(
            "SELECT g.id, g.name, g.description, g.created_at, \
             (SELECT COUNT(*) FROM gallery_persons p WHERE p.gallery_id = g.id) AS persons, \
             (SELECT COUNT(*) FROM gallery_faces f WHERE f.gallery_id = g.id) AS faces \
             FROM galleries g ORDER BY g.created_at, g.id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(GalleryStats {
                    gallery: GalleryRow::from_row(row)?,
                    persons: row.try_get("persons")?,
                    faces: row.try_get("faces")?,
                })
            })
            .collect()
    }

    pub async fn gallery_stats(&self, id: &str) -> Result<Option<GalleryStats>> {
        let Some(gallery) = self.gallery(id).await? else { return Ok(None) };
        let persons: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM gallery_persons WHERE gallery_id = $1")
            .bind(&gallery.id)
            .fetch_one(&self.pool)
            .await?;
        let faces: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM gallery_faces WHERE gallery_id = $1")
            .bind(&gallery.id)
            .fetch_one(&self.pool)
            .await?;
        Ok(Some(GalleryStats { gallery, persons, faces }))
    }

    /// Deletes a gallery with its persons and faces, logging one `drop`; returns the kept photos
    /// to delete (already queued), or `None` when there was no such gallery.
    pub async fn delete_gallery(&self, id: &str) -> Result<Option<Vec<String>>> {
        let mut tx = self.pool.begin().await?;
        let seq = take_seq(&mut tx, 1).await?;
        let done = sqlx::query("DELETE FROM galleries WHERE id = $1").bind(id).execute(&mut *tx).await?;
        if done.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(None);
        }
        let images: Vec<String> =
            sqlx::query_scalar("SELECT image_key FROM gallery_faces WHERE gallery_id = $1 AND image_key IS NOT NULL")
                .bind(id)
                .fetch_all(&mut *tx)
                .await?;
        for key in &images {
            queue_image_deletion(&mut tx, key).await?;
        }
        sqlx::query("DELETE FROM gallery_faces WHERE gallery_id = $1").bind(id).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM gallery_persons WHERE gallery_id = $1").bind(id).execute(&mut *tx).await?;
        log_change(&mut tx, seq, "drop", id, None).await?;
        tx.commit().await?;
        Ok(Some(images))
    }

    /// Adds one face, creating its person when the gallery has none with that external id: the
    /// face row, its sealed template and its log entry in one transaction.
    pub async fn add_face(&self, face: &NewFace<'_>) -> Result<FaceAdded> {
        Ok(self.add_faces(std::slice::from_ref(face)).await?.pop().unwrap_or(FaceAdded::NoSuchGallery))
    }

    /// Adds faces in one transaction (one commit, one sync to disk: bulk loads go faster), each
    /// as [`Store::add_face`] would; a face refused does not stop the others.
    pub async fn add_faces(&self, faces: &[NewFace<'_>]) -> Result<Vec<FaceAdded>> {
        let mut tx = self.pool.begin().await?;
        let mut added = Vec::with_capacity(faces.len());
        for face in faces {
            // First statement: SQLite takes its write lock here, PostgreSQL the head row's lock.
            let face_key = take_seq(&mut tx, 1).await?;
            let outcome = self.add_face_in(&mut tx, face, face_key).await?;
            if !matches!(outcome, FaceAdded::Added { .. }) {
                // Give the number back: the log stays without gaps.
                take_seq(&mut tx, -1).await?;
            }
            added.push(outcome);
        }
        tx.commit().await?;
        Ok(added)
    }

    async fn add_face_in(&self, tx: &mut Transaction<'_, Any>, face: &NewFace<'_>, face_key: i64) -> Result<FaceAdded> {
        let exists: Option<String> = sqlx::query_scalar("SELECT id FROM galleries WHERE id = $1")
            .bind(face.gallery_id)
            .fetch_optional(&mut **tx)
            .await?;
        if exists.is_none() {
            return Ok(FaceAdded::NoSuchGallery);
        }
        if let Some(hash) = &face.source_hash {
            let enrolled =
                sqlx::query("SELECT face_key, person_id FROM gallery_faces WHERE gallery_id = $1 AND source_hash = $2")
                    .bind(face.gallery_id)
                    .bind(hash)
                    .fetch_optional(&mut **tx)
                    .await?;
            if let Some(row) = enrolled {
                return Ok(FaceAdded::AlreadyEnrolled { face_key: row.try_get(0)?, person_id: row.try_get(1)? });
            }
        }
        let person: Option<String> =
            sqlx::query_scalar("SELECT id FROM gallery_persons WHERE gallery_id = $1 AND external_id = $2")
                .bind(face.gallery_id)
                .bind(face.external_id)
                .fetch_optional(&mut **tx)
                .await?;
        let person_created = person.is_none();
        let person_id = match person {
            Some(id) => {
                if let Some(attributes) = &face.attributes_enc {
                    sqlx::query("UPDATE gallery_persons SET attributes_enc = $1 WHERE id = $2")
                        .bind(attributes.clone())
                        .bind(&id)
                        .execute(&mut **tx)
                        .await?;
                }
                id
            }
            None => {
                let id = new_id("gp");
                sqlx::query(
                    "INSERT INTO gallery_persons (id, gallery_id, external_id, attributes_enc, created_at) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&id)
                .bind(face.gallery_id)
                .bind(face.external_id)
                .bind(face.attributes_enc.clone())
                .bind(now_ms())
                .execute(&mut **tx)
                .await?;
                id
            }
        };
        let sealed = self.keys.seal(Purpose::Templates, &template_context(face_key), face.template)?;
        sqlx::query(
            "INSERT INTO gallery_faces (face_key, gallery_id, person_id, template_enc, source_hash, quality, image_key, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(face_key)
        .bind(face.gallery_id)
        .bind(&person_id)
        .bind(sealed)
        .bind(face.source_hash.as_deref())
        .bind(face.quality)
        .bind(face.image.as_ref().map(|(key, _)| key.as_str()))
        .bind(now_ms())
        .execute(&mut **tx)
        .await?;
        if let Some((object_key, owner)) = &face.image {
            sqlx::query("DELETE FROM object_deletions WHERE object_key = $1 AND record_id = $2")
                .bind(object_key)
                .bind(owner)
                .execute(&mut **tx)
                .await?;
        }
        log_change(tx, face_key, "add", face.gallery_id, Some(face_key)).await?;
        Ok(FaceAdded::Added { face_key, person_id, person_created })
    }

    /// Removes one face of a gallery; returns its kept photo's object key (queued for deletion)
    /// as `Some(Some(key))`, `Some(None)` without one, `None` when the gallery has no such face.
    pub async fn remove_face(&self, gallery_id: &str, face_key: i64) -> Result<Option<Option<String>>> {
        let mut tx = self.pool.begin().await?;
        let found =
            sqlx::query("SELECT face_key, image_key FROM gallery_faces WHERE gallery_id = $1 AND face_key = $2")
                .bind(gallery_id)
                .bind(face_key)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(row) = found else {
            tx.rollback().await?;
            return Ok(None);
        };
        let image: Option<String> = row.try_get(1)?;
        remove_faces(&mut tx, gallery_id, &[(face_key, image.clone())]).await?;
        tx.commit().await?;
        Ok(Some(image))
    }

    /// Removes a person and every face of theirs; returns the kept photos to delete (queued), or
    /// `None` when the gallery has no such person.
    pub async fn remove_person(&self, gallery_id: &str, person_id: &str) -> Result<Option<Vec<String>>> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query("DELETE FROM gallery_persons WHERE id = $1 AND gallery_id = $2")
            .bind(person_id)
            .bind(gallery_id)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(None);
        }
        let faces: Vec<(i64, Option<String>)> =
            sqlx::query_as("SELECT face_key, image_key FROM gallery_faces WHERE person_id = $1 ORDER BY face_key")
                .bind(person_id)
                .fetch_all(&mut *tx)
                .await?;
        let images = remove_faces(&mut tx, gallery_id, &faces).await?;
        tx.commit().await?;
        Ok(Some(images))
    }

    /// Whether the gallery holds a face from the photo with this keyed hash (a resumed import
    /// skips it before paying for its embedding).
    pub async fn has_face_from(&self, gallery_id: &str, source_hash: &str) -> Result<bool> {
        let found: Option<i64> =
            sqlx::query_scalar("SELECT face_key FROM gallery_faces WHERE gallery_id = $1 AND source_hash = $2")
                .bind(gallery_id)
                .bind(source_hash)
                .fetch_optional(&self.pool)
                .await?;
        Ok(found.is_some())
    }

    pub async fn person(&self, gallery_id: &str, person_id: &str) -> Result<Option<PersonRow>> {
        Ok(sqlx::query_as("SELECT * FROM gallery_persons WHERE id = $1 AND gallery_id = $2")
            .bind(person_id)
            .bind(gallery_id)
            .fetch_optional(&self.pool)
            .await?)
    }

    pub async fn person_by_external_id(&self, gallery_id: &str, external_id: &str) -> Result<Option<PersonRow>> {
        Ok(sqlx::query_as("SELECT * FROM gallery_persons WHERE gallery_id = $1 AND external_id = $2")
            .bind(gallery_id)
            .bind(external_id)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// Persons of a gallery in creation order, after `after` (an id; keyset paging), at most
    /// `limit`.
    pub async fn list_persons(&self, gallery_id: &str, after: Option<&str>, limit: i64) -> Result<Vec<PersonRow>> {
        Ok(sqlx::query_as("SELECT * FROM gallery_persons WHERE gallery_id = $1 AND id > $2 ORDER BY id LIMIT $3")
            .bind(gallery_id)
            .bind(after.unwrap_or(""))
            .bind(limit)
            .fetch_all(&self.pool)
            .await?)
    }

    pub async fn person_faces(&self, person_id: &str) -> Result<Vec<FaceRow>> {
        Ok(sqlx::query_as(
            "SELECT face_key, gallery_id, person_id, quality, image_key, created_at FROM gallery_faces \
             WHERE person_id = $1 ORDER BY face_key",
        )
        .bind(person_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// The owners of those of `face_keys` that still exist: search hits pass through here, so a
    /// face removed on any node is gone from every node's results at once, whatever its index
    /// still holds.
    pub async fn face_owners(&self, face_keys: &[i64]) -> Result<Vec<FaceOwner>> {
        if face_keys.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders: Vec<String> = (1..=face_keys.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT f.face_key, f.gallery_id, f.person_id, p.external_id FROM gallery_faces f \
             JOIN gallery_persons p ON p.id = f.person_id WHERE f.face_key IN ({})",
            placeholders.join(", ")
        );
        // Only placeholders are formatted into the statement; every value is bound.
        let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql));
        for key in face_keys {
            query = query.bind(*key);
        }
        Ok(query.fetch_all(&self.pool).await?)
    }

    /// The last change number handed out (and committed, or being committed).
    pub async fn gallery_log_head(&self) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT seq FROM gallery_log_head WHERE id = 1").fetch_one(&self.pool).await?)
    }

    /// Changes after `seq`, in order, at most `limit`, with the templates of added faces that
    /// still exist.
    pub async fn gallery_changes(&self, after: i64, limit: i64) -> Result<Vec<GalleryChange>> {
        let rows = sqlx::query(
            "SELECT c.seq, c.op, c.gallery_id, c.face_key, f.template_enc FROM gallery_changes c \
             LEFT JOIN gallery_faces f ON f.face_key = c.face_key AND c.op = 'add' \
             WHERE c.seq > $1 ORDER BY c.seq LIMIT $2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let seq: i64 = row.try_get(0)?;
                let op: String = row.try_get(1)?;
                let face_key: Option<i64> = row.try_get(3)?;
                let sealed: Option<Vec<u8>> = row.try_get(4)?;
                let op = match (op.as_str(), face_key) {
                    ("add", Some(face_key)) => ChangeOp::Add { face_key },
                    ("remove", Some(face_key)) => ChangeOp::Remove { face_key },
                    ("drop", _) => ChangeOp::Drop,
                    (other, _) => return Err(StoreError::Corrupt(format!("gallery change {seq}: {other:?}"))),
                };
                let template = match (op, sealed) {
                    (ChangeOp::Add { face_key }, Some(sealed)) => {
                        Some(self.keys.open(Purpose::Templates, &template_context(face_key), &sealed)?)
                    }
                    _ => None,
                };
                Ok(GalleryChange { seq, op, gallery_id: row.try_get(2)?, template })
            })
            .collect()
    }

    /// Ids of every gallery.
    pub async fn gallery_ids(&self) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar("SELECT id FROM galleries ORDER BY id").fetch_all(&self.pool).await?)
    }

    /// A gallery's faces with keys above `after`, in key order, at most `limit`, templates
    /// opened: the pages its index is built from.
    pub async fn face_templates(&self, gallery_id: &str, after: i64, limit: i64) -> Result<Vec<StoredTemplate>> {
        let rows = sqlx::query(
            "SELECT face_key, gallery_id, template_enc FROM gallery_faces WHERE gallery_id = $1 AND face_key > $2 \
             ORDER BY face_key LIMIT $3",
        )
        .bind(gallery_id)
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let face_key: i64 = row.try_get(0)?;
                let sealed: Vec<u8> = row.try_get(2)?;
                Ok(StoredTemplate {
                    face_key,
                    gallery_id: row.try_get(1)?,
                    template: self.keys.open(Purpose::Templates, &template_context(face_key), &sealed)?,
                })
            })
            .collect()
    }
}
