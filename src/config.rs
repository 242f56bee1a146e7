//! Where things live. The workspace folder comes from `--workspace`, else `STAYTRACK_HOME`, else
//! the current folder; the store, artifacts and data sit inside it.

use std::path::{Path, PathBuf};

/// The largest settings file read (a spec of 100,000 columns takes about 7 MB).
pub const MAX_SETTINGS_BYTES: u64 = 64 << 20;

/// `[data]` of the settings file: where a workspace's own dataset lives (`data init` writes
/// it), so training and scoring need no `--data` on a table other than the built-in one.
/// Relative paths are the workspace's.
#[derive(Debug, Default, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataFiles {
    pub train: Option<PathBuf>,
    pub test: Option<PathBuf>,
}

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

    /// The `[data]` table: the workspace's own training and test files.
    pub fn data_files(&self) -> anyhow::Result<DataFiles> {
        self.section("data")
    }

    /// The file runs train on: `[data] train`, else `data/train_data.csv`.
    pub fn train_file(&self) -> PathBuf {
        self.own_file(|d| d.train)
            .unwrap_or_else(|| self.data_dir.join("train_data.csv"))
    }

    /// The file scoring and drift read by default: `[data] test`, else `data/test_data.csv`.
    pub fn test_file(&self) -> PathBuf {
        self.own_file(|d| d.test)
            .unwrap_or_else(|| self.data_dir.join("test_data.csv"))
    }

    /// A file `[data]` names, relative to the workspace. A settings file that does not parse
    /// is reported by the commands that read it (`data_files`); here the default stands.
    fn own_file(&self, pick: impl Fn(DataFiles) -> Option<PathBuf>) -> Option<PathBuf> {
        let p = self.data_files().ok().and_then(pick)?;
        Some(self.workspace.join(p))
    }
}
