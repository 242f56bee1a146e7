//! Where things live. The workspace folder comes from `--workspace`, else `STAYTRACK_HOME`, else
//! the current folder; the store, artifacts and data sit inside it.

use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct Config {
    pub workspace: PathBuf,
    pub db_path: PathBuf,
    pub artifacts_dir: PathBuf,
    pub data_dir: PathBuf,
}

impl Config {
    /// `workspace` is what the flag or environment gave (clap already applies that precedence).
    pub fn resolve(workspace: Option<&Path>) -> Config {
        let workspace = workspace
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        Config {
            db_path: workspace.join("staytrack.db"),
            artifacts_dir: workspace.join("artifacts"),
            data_dir: workspace.join("data"),
            workspace,
        }
    }

    /// The optional settings file, `WORKSPACE/staytrack.toml`.
    pub fn settings_file(&self) -> PathBuf {
        self.workspace.join("staytrack.toml")
    }

    /// Sync settings: the `[sync]` table of the settings file, then `STAYTRACK_SYNC_*` variables
    /// over it (flags go over both, in the command).
    pub fn sync_settings(&self) -> anyhow::Result<crate::sync::SyncSettings> {
        #[derive(serde::Deserialize, Default)]
        struct File {
            #[serde(default)]
            sync: crate::sync::SyncSettings,
        }
        let path = self.settings_file();
        let mut s = match std::fs::read_to_string(&path) {
            Ok(text) => {
                toml::from_str::<File>(&text)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
                    .sync
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Default::default(),
            Err(e) => anyhow::bail!("{}: {e}", path.display()),
        };
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        if let Some(v) = var("STAYTRACK_SYNC_BUCKET") {
            s.bucket = Some(v);
        }
        if let Some(v) = var("STAYTRACK_SYNC_PREFIX") {
            s.prefix = v;
        }
        if let Some(v) = var("STAYTRACK_SYNC_ENDPOINT") {
            s.endpoint = Some(v);
        }
        if let Some(v) = var("STAYTRACK_SYNC_REGION") {
            s.region = Some(v);
        }
        if let Some(v) = var("STAYTRACK_SYNC_AUTO") {
            s.auto = matches!(v.as_str(), "1" | "true" | "yes");
        }
        Ok(s)
    }

    pub fn train_file(&self) -> PathBuf {
        self.data_dir.join("train_data.csv")
    }

    pub fn test_file(&self) -> PathBuf {
        self.data_dir.join("test_data.csv")
    }
}
