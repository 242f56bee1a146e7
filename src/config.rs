//! Where things live. The workspace folder comes from `--workspace`, else `STAYTRACK_HOME`, else
//! the current folder; the store, artifacts and data sit inside it.

use std::path::{Path, PathBuf};

/// The largest settings file read (a spec of 100,000 columns takes about 7 MB).
pub const MAX_SETTINGS_BYTES: u64 = 64 << 20;

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

    /// The settings file's text, `None` when there is none; an unreadable file is an error
    /// naming it.
    pub fn read_settings(&self) -> anyhow::Result<Option<String>> {
        let path = self.settings_file();
        match crate::util::readable_file(&path) {
            Ok(meta) if meta.len() > MAX_SETTINGS_BYTES => anyhow::bail!(
                "{}: {} bytes; a settings file is at most {} MB",
                path.display(),
                meta.len(),
                MAX_SETTINGS_BYTES >> 20
            ),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => anyhow::bail!("{}: {e}", path.display()),
        }
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(Some(text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => anyhow::bail!("{}: {e}", path.display()),
        }
    }

    /// The `[name]` table of the settings file as `T`; `T::default()` when there is no file or
    /// no such table. An unknown key or a wrong type is an error naming the file and the table.
    pub fn section<T: serde::de::DeserializeOwned + Default>(
        &self,
        name: &str,
    ) -> anyhow::Result<T> {
        let Some(text) = self.read_settings()? else {
            return Ok(T::default());
        };
        let path = self.settings_file();
        let mut table: toml::Table = text
            .parse()
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        match table.remove(name) {
            None => Ok(T::default()),
            Some(v) => v
                .try_into()
                .map_err(|e| anyhow::anyhow!("{} [{name}]: {e}", path.display())),
        }
    }

    pub fn train_file(&self) -> PathBuf {
        self.data_dir.join("train_data.csv")
    }

    pub fn test_file(&self) -> PathBuf {
        self.data_dir.join("test_data.csv")
    }
}
