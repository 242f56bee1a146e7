//! The model being served and how it follows its alias.
//!
//! The served model sits behind a lock as an `Arc`: a request clones the `Arc` and predicts
//! with it, so swapping in a new model never disturbs a request already running, and every
//! request sees either the old model or the new one.

use std::path::{Path, PathBuf};

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, RwLock};

use super::metrics::Metrics;
use crate::bundle::{Bundle, BundleError};
use crate::data::quality::Checker;
use crate::tracking::{Store, StoreError};

pub struct Loaded {
    pub version: i64,
    pub run_id: String,
    pub sha256: String,
    pub bundle: Bundle,
    /// The bundle's spec, shared by every request's frame.
    pub spec: Arc<crate::data::DatasetSpec>,
    pub loaded_at: i64,
    /// Judges each scored row against this model's training data.
    pub checker: Checker,
    /// The model laid out for explaining, made by the first request that asks for an
    /// explanation: requests without one never pay for it, in time or memory.
    explainer: std::sync::OnceLock<Result<crate::explain::Explainer, crate::explain::ExplainError>>,
}

impl Loaded {
    /// Everything scoring derives from the bundle is made here, before the slot can hand the
    /// model to a request: a swap brings it whole.
    fn new(version: i64, run_id: String, sha256: String, bundle: Bundle) -> Loaded {
        bundle.prepare();
        Loaded {
            version,
            run_id,
            sha256,
            checker: Checker::new(&bundle.spec, &bundle.profile),
            spec: Arc::new(bundle.spec.clone()),
            bundle,
            loaded_at: crate::util::now_ms(),
            explainer: std::sync::OnceLock::new(),
        }
    }

    /// The explainer of this model, made on first use; an old bundle says what it lacks.
    pub fn explainer(&self) -> Result<&crate::explain::Explainer, &crate::explain::ExplainError> {
        self.explainer
            .get_or_init(|| crate::explain::Explainer::new(&self.bundle))
            .as_ref()
    }
}

pub struct ModelSlot {
    pub alias: String,
    current: RwLock<Option<Arc<Loaded>>>,
    /// Versions asked for by number (the v2 versioned routes), least recently used first.
    pinned: Mutex<Vec<Arc<Loaded>>>,
    max_pinned: usize,
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
            pinned: Mutex::new(Vec::new()),
            max_pinned: DEFAULT_PINNED,
            store: Mutex::new(Store::open(db)?),
            artifacts_dir: artifacts_dir.to_path_buf(),
            metrics,
            last_error: Mutex::new(None),
        })
    }

    /// Keeps at most `n` versions loaded besides the alias's (at least one).
    pub fn with_pinned(mut self, n: usize) -> ModelSlot {
        self.max_pinned = n.max(1);
        self
    }

    /// A registered version by number: the alias's model when it is that version, else loaded
    /// on first use and kept among the `max_pinned` most recently asked for. Blocks while a
    /// bundle loads, so async callers run it off their workers.
    pub fn at_version(&self, version: i64) -> Result<Arc<Loaded>, VersionError> {
        if let Some(m) = self.current().filter(|m| m.version == version) {
            return Ok(m);
        }
        if let Some(m) = self.pinned_version(version) {
            return Ok(m);
        }
        let store = self.store.lock().unwrap_or_else(|p| p.into_inner());
        // Another request may have loaded it while this one waited for the store.
        if let Some(m) = self.pinned_version(version) {
            return Ok(m);
        }
        let target = store.version_target(version)?;
        let Some(t) = target else {
            return Err(VersionError::NotRegistered {
                version,
                registered: store.version_numbers().unwrap_or_default(),
            });
        };
        drop(store);
        let bundle = self
            .load(&t.sha256, t.path.as_deref())
            .map_err(|bundle| VersionError::Load { version, bundle })?;
        let loaded = Arc::new(Loaded::new(version, t.run_id, t.sha256, bundle));
        let mut pinned = self.pinned.lock().unwrap_or_else(|p| p.into_inner());
        if !pinned.iter().any(|m| m.version == version) {
            pinned.push(loaded.clone());
            if pinned.len() > self.max_pinned {
                pinned.remove(0);
            }
        }
        Ok(loaded)
    }

    /// A version kept loaded, marked as the most recently used.
    fn pinned_version(&self, version: i64) -> Option<Arc<Loaded>> {
        let mut pinned = self.pinned.lock().unwrap_or_else(|p| p.into_inner());
        let i = pinned.iter().position(|m| m.version == version)?;
        let m = pinned.remove(i);
        pinned.push(m.clone());
        Some(m)
    }

    /// The registered version numbers, oldest first (empty if the store cannot be read).
    pub fn versions(&self) -> Vec<i64> {
        self.with_store(|s| s.version_numbers().unwrap_or_default())
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
    pub fn refresh(&self) -> Result<Option<i64>, ReloadError> {
        let store = self.store.lock().unwrap_or_else(|p| p.into_inner());
        let res = self.refresh_locked(&store);
        drop(store);
        let mut last = self.last_error.lock().unwrap_or_else(|p| p.into_inner());
        match &res {
            Ok(_) => *last = None,
            Err(e) => {
                let e = e.to_string();
                if last.as_deref() != Some(e.as_str()) {
                    eprintln!("staytrack serve: {e}");
                    *last = Some(e);
                }
            }
        }
        res
    }

    fn refresh_locked(&self, store: &Store) -> Result<Option<i64>, ReloadError> {
        let target = store.alias_target(&self.alias).map_err(|source| {
            // The store's error names its file: that stays in the server's log.
            eprintln!("staytrack serve: reading alias '{}': {source}", self.alias);
            ReloadError::Store {
                alias: self.alias.clone(),
                source,
            }
        })?;
        let Some(target) = target else {
            // An alias is never removed, so nothing to do until one is set.
            return Ok(self.version());
        };
        if self.version() == Some(target.version) {
            return Ok(Some(target.version));
        }
        // A version already loaded by number is taken as it is.
        let loaded = match self.pinned_version(target.version) {
            Some(m) => Ok(m),
            None => self
                .load(&target.sha256, target.path.as_deref())
                .map(|bundle| {
                    Arc::new(Loaded::new(
                        target.version,
                        target.run_id.clone(),
                        target.sha256.clone(),
                        bundle,
                    ))
                }),
        };
        match loaded {
            Ok(loaded) => {
                *self.current.write().unwrap_or_else(|p| p.into_inner()) = Some(loaded);
                self.metrics.reloads.fetch_add(1, Ordering::Relaxed);
                eprintln!(
                    "staytrack serve: serving '{}' = version {} (run {})",
                    self.alias, target.version, target.run_id
                );
                Ok(Some(target.version))
            }
            Err(bundle) => {
                self.metrics.reload_failures.fetch_add(1, Ordering::Relaxed);
                Err(ReloadError::Load {
                    alias: self.alias.clone(),
                    version: target.version,
                    bundle: Box::new(bundle),
                    serving: self.version(),
                })
            }
        }
    }

    /// The registered bundle, without its validation rows. The full error, path and all, goes
    /// to the server's own log here; what callers show of it is `BundleError::kind`.
    fn load(&self, sha256: &str, path: Option<&str>) -> Result<Bundle, BundleError> {
        let mut bundle =
            Bundle::load_registered(&self.artifacts_dir, sha256, path).inspect_err(|e| {
                eprintln!("staytrack serve: {e}");
            })?;
        // Serving never reads the validation rows; they are not kept in memory.
        bundle.validation = None;
        Ok(bundle)
    }
}

/// The versions kept loaded besides the alias's, unless told otherwise.
pub const DEFAULT_PINNED: usize = 4;

/// Why a version asked for by number cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum VersionError {
    #[error("{}", not_registered(*.version, .registered))]
    NotRegistered { version: i64, registered: Vec<i64> },
    /// Says what is wrong with the bundle, not where it is.
    #[error("version {version} cannot be loaded: {}", .bundle.kind())]
    Load { version: i64, bundle: BundleError },
    /// The registry cannot be read: the server's fault, whose detail (the store's error names
    /// its file) is the `source`, for the server's log.
    #[error("reading the registry failed; the server's log says why")]
    Store(#[from] StoreError),
}

fn not_registered(version: i64, registered: &[i64]) -> String {
    match (registered.first(), registered.last()) {
        (Some(lo), Some(hi)) => format!(
            "no version {version} in the registry; it holds {} version(s), {lo} to {hi}",
            registered.len()
        ),
        _ => format!("no version {version}: the registry holds no versions yet"),
    }
}

/// Why the alias's model was not (re)loaded; the model loaded before keeps serving.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The alias cannot be read from the store: the message leaves the store's error (which
    /// names its file) to `source` and the server's log.
    #[error("reading alias '{alias}' failed; the server's log says why")]
    Store { alias: String, source: StoreError },
    /// The alias moved to a model that does not load: says what is wrong, not where.
    #[error(
        "alias '{alias}' moved to version {version} but its model cannot be loaded ({}); {}",
        .bundle.kind(),
        still_serving(*.serving)
    )]
    Load {
        alias: String,
        version: i64,
        bundle: Box<BundleError>,
        /// The version still served, if any.
        serving: Option<i64>,
    },
}

fn still_serving(serving: Option<i64>) -> String {
    match serving {
        Some(v) => format!("still serving version {v}"),
        None => "no model is served".to_string(),
    }
}
