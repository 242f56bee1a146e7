//! Where the bucket is: the `[sync]` table of `staytrack.toml`, `STAYTRACK_SYNC_*` variables over
//! it, flags over both (in the command).

use serde::{Deserialize, Serialize};

use crate::config::Config;

/// Where the bucket is. Credentials never pass through here: they come from the standard AWS
/// chain (environment, profile, web identity, instance metadata).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncSettings {
    pub bucket: Option<String>,
    #[serde(default)]
    pub prefix: String,
    pub endpoint: Option<String>,
    pub region: Option<String>,
    /// Push each finished run right after training.
    #[serde(default)]
    pub auto: bool,
}

impl SyncSettings {
    /// Sync settings: the `[sync]` table of the settings file, then `STAYTRACK_SYNC_*` variables
    /// over it (flags go over both, in the command).
    pub fn load(cfg: &Config) -> anyhow::Result<SyncSettings> {
        #[derive(serde::Deserialize, Default)]
        struct File {
            #[serde(default)]
            sync: SyncSettings,
        }
        let mut s = match cfg.read_settings()? {
            Some(text) => {
                toml::from_str::<File>(&text)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", cfg.settings_file().display()))?
                    .sync
            }
            None => Default::default(),
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
}
