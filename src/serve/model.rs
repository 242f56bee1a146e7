//! The model being served and how it follows its alias.
//!
//! The served model sits behind a lock as an `Arc`: a request clones the `Arc` and predicts
//! with it, so swapping in a new model never disturbs a request already running, and every
//! request sees either the old model or the new one.

use std::path::{Path, PathBuf};

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, RwLock};

use super::metrics::Metrics;
use crate::bundle::Bundle;
use crate::tracking::{AliasTarget, Store};

pub struct Loaded {
    pub version: i64,
    pub run_id: String,
    pub sha256: String,
    pub bundle: Bundle,
    pub loaded_at: i64,
}

pub struct ModelSlot {
    pub alias: String,
    current: RwLock<Option<Arc<Loaded>>>,
    /// The slot's own connection; also serialises reloads.
    store: Mutex<Store>,
    artifacts_dir: PathBuf,
    metrics: Arc<Metrics>,
    last_error: Mutex<Option<String>>,
}

impl ModelSlot {
    pub fn new(
        alias: &str,
        db: &Path,
        artifacts_dir: &Path,
        metrics: Arc<Metrics>,
    ) -> anyhow::Result<ModelSlot> {
        Ok(ModelSlot {
            alias: alias.to_string(),
            current: RwLock::new(None),
            store: Mutex::new(Store::open(db)?),
            artifacts_dir: artifacts_dir.to_path_buf(),
            metrics,
            last_error: Mutex::new(None),
        })
    }

    pub fn current(&self) -> Option<Arc<Loaded>> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn version(&self) -> Option<i64> {
        self.current().map(|m| m.version)
    }

    /// Why the alias's model could not be loaded, while that is so.
    pub fn last_error(&self) -> Option<String> {
        self.last_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Runs `f` on the slot's store connection (registry reads and admin moves).
    pub fn with_store<T>(&self, f: impl FnOnce(&mut Store) -> T) -> T {
        let mut s = self.store.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut s)
    }

    /// Looks at the alias and loads its bundle if it moved. On failure the old model keeps
    /// serving; the error is returned, and printed once until it changes.
    pub fn refresh(&self) -> Result<Option<i64>, String> {
        let store = self.store.lock().unwrap_or_else(|p| p.into_inner());
        let res = self.refresh_locked(&store);
        drop(store);
        let mut last = self.last_error.lock().unwrap_or_else(|p| p.into_inner());
        match &res {
            Ok(_) => *last = None,
            Err(e) => {
                if last.as_deref() != Some(e.as_str()) {
                    eprintln!("staytrack serve: {e}");
                    *last = Some(e.clone());
                }
            }
        }
        res
    }

    fn refresh_locked(&self, store: &Store) -> Result<Option<i64>, String> {
        let target = store
            .alias_target(&self.alias)
            .map_err(|e| format!("reading alias '{}': {e}", self.alias))?;
        let Some(target) = target else {
            // An alias is never removed, so nothing to do until one is set.
            return Ok(self.version());
        };
        if self.version() == Some(target.version) {
            return Ok(Some(target.version));
        }
        match self.load(&target) {
            Ok(bundle) => {
                let loaded = Arc::new(Loaded {
                    version: target.version,
                    run_id: target.run_id.clone(),
                    sha256: target.sha256.clone(),
                    bundle,
                    loaded_at: crate::util::now_ms(),
                });
                *self.current.write().unwrap_or_else(|p| p.into_inner()) = Some(loaded);
                self.metrics.reloads.fetch_add(1, Ordering::Relaxed);
                eprintln!(
                    "staytrack serve: serving '{}' = version {} (run {})",
                    self.alias, target.version, target.run_id
                );
                Ok(Some(target.version))
            }
            Err(e) => {
                self.metrics.reload_failures.fetch_add(1, Ordering::Relaxed);
                Err(format!(
                    "alias '{}' moved to version {} but its model cannot be loaded ({e}); {}",
                    self.alias,
                    target.version,
                    match self.version() {
                        Some(v) => format!("still serving version {v}"),
                        None => "no model is served".to_string(),
                    }
                ))
            }
        }
    }

    fn load(&self, t: &AliasTarget) -> Result<Bundle, String> {
        Bundle::load_registered(&self.artifacts_dir, &t.sha256, t.path.as_deref())
            .map_err(|e| e.to_string())
    }
}
