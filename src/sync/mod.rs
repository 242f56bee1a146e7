//! S3 sync: share finished runs, their artifacts and the registry's alias moves through a bucket.
//!
//! Layout under the prefix:
//! - `artifacts/<sha256>`: artifact bytes, addressed by their digest (verified on pull);
//! - `runs/<run id>.json`: one immutable document per finished run;
//! - `registry/events/<at>-<digest>.json`: alias moves by run id, an append-only log;
//! - `backups/<time>-staytrack.db`: consistent snapshots of the store.
//!
//! Every write is conditional (`If-None-Match: *`), so two pushers never overwrite each other;
//! push uploads what the bucket lacks, so an interrupted push completes when run again; pull
//! never overwrites a local run and writes a run only after its artifacts are verified.
//!
//! `settings` says where the bucket is, `transport` moves objects; this file decides what to
//! move and checks everything that comes back.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Serialize;

use crate::bundle::sha256_hex;
use crate::config::Config;
use crate::tracking::documents::{
    valid_run_id, ArtifactRef, DocError, EventDoc, RunDoc, SyncKind, MAX_EVENT_BYTES,
    MAX_RUN_DOC_BYTES,
};
use crate::tracking::{RegistryError, Replayed, Store, StoreError};

pub mod settings;
pub mod transport;

pub use settings::SyncSettings;
pub use transport::{Remote, SyncError, MULTIPART_BYTES};

/// What a push or pull did.
#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub runs: usize,
    pub artifacts: usize,
    pub artifact_bytes: u64,
    /// Alias moves written (push) or that moved an alias (pull).
    pub events: usize,
    /// Pull: older moves written to the audit log without moving their alias.
    pub history: usize,
    /// Pull: moves whose run is not in the bucket yet; a later pull applies them.
    pub waiting: Vec<String>,
    /// Objects refused, as `s3://bucket/key: why`; the rest went ahead without them.
    pub rejected: Vec<String>,
    /// Pull: the fleet's capture segments imported.
    pub captures: crate::capture::import::CapturePull,
    /// Push: the outbox's segments shipped (this workspace's logged batches and outcomes).
    pub shipped: crate::capture::ship::Shipped,
}

/// The workspace's copy of an artifact: `artifacts/<first two hex digits>/<sha256>.<ext>`.
fn local_artifact(cfg: &Config, a: &ArtifactRef) -> Result<PathBuf, DocError> {
    Ok(crate::bundle::addressed_path(
        &cfg.artifacts_dir,
        &a.sha256,
        a.extension()?,
    ))
}

/// Whether `path` is a regular file of `bytes` bytes hashing to `sha256` (read in pieces, so
/// a huge or endless file costs no memory).
fn have_artifact(path: &Path, bytes: u64, sha256: &str) -> bool {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return false;
    };
    meta.is_file()
        && meta.len() == bytes
        && crate::bundle::sha256_file(path).is_ok_and(|h| h == sha256)
}

/// Uploads every finished run, artifact and alias event the bucket lacks.
pub async fn push(
    cfg: &Config,
    remote: &Remote,
    only: Option<&[String]>,
) -> anyhow::Result<Summary> {
    let mut store = Store::open(&cfg.db_path)?;
    let have_runs = remote.list("runs/").await?;
    let have_artifacts = remote.list("artifacts/").await?;
    let mut sum = Summary::default();
    for id in store.finished_run_ids()? {
        if only.is_some_and(|o| !o.contains(&id)) {
            continue;
        }
        let run_key = remote.key(&format!("runs/{id}.json"));
        if have_runs.contains(&run_key) {
            continue;
        }
        let doc = store
            .export_run(&id)?
            .with_context(|| format!("run {id} disappeared while pushing"))?;
        // Artifacts first: a run document never points at a missing object.
        for a in &doc.artifacts {
            let key = remote.key(&format!("artifacts/{}", a.sha256));
            if have_artifacts.contains(&key) {
                continue;
            }
            let path = local_artifact(cfg, a).with_context(|| format!("run {id}"))?;
            let bytes = std::fs::read(&path)
                .with_context(|| format!("run {id}: artifact {} at {}", a.name, path.display()))?;
            let found = sha256_hex(&bytes);
            anyhow::ensure!(
                found == a.sha256,
                "run {id}: the local artifact {} is corrupted (sha256 {found}, recorded {})",
                path.display(),
                a.sha256
            );
            let n = bytes.len() as u64;
            if remote.put_new(&key, bytes).await? {
                sum.artifacts += 1;
                sum.artifact_bytes += n;
            }
        }
        let body = serde_json::to_vec_pretty(&doc)?;
        if remote.put_new(&run_key, body).await? {
            sum.runs += 1;
        }
    }
    if only.is_none() {
        let rid = remote.id();
        for (local_id, ev) in store.unpushed_events(&rid)? {
            // As every pull takes it: a reason recorded before its bound goes cut.
            let ev = ev.bounded();
            let rel = ev.key();
            if remote
                .put_new(&remote.key(&rel), serde_json::to_vec_pretty(&ev)?)
                .await?
            {
                sum.events += 1;
            }
            store.mark_event_synced(&rid, local_id, &rel)?;
        }
        let layout =
            crate::capture::ship::Layout::of_workspace(cfg, crate::capture::ship::DEFAULT_ROWS)?;
        sum.shipped =
            crate::capture::ship::ship_pending(&mut store, remote, &layout, true, None).await?;
        if let Some(f) = &sum.shipped.failure {
            anyhow::bail!("shipping the outbox's captures: {f}");
        }
    }
    Ok(sum)
}

/// Fetches runs the store lacks (every document validated and every artifact verified before
/// anything is written), then replays the bucket's alias moves by their original time. A bad
/// object is skipped and reported in `rejected`; it never stops the rest.
/// With `captures` (the oldest time wanted, 0 for all), the fleet's capture segments too.
pub async fn pull(cfg: &Config, remote: &Remote, captures: Option<i64>) -> anyhow::Result<Summary> {
    let mut store = Store::open(&cfg.db_path)?;
    let mut sum = Summary::default();
    for key in &remote.list("runs/").await? {
        match pull_run(cfg, remote, &mut store, key, &mut sum).await {
            Ok(()) => {}
            // A key is the bucket's to choose: written out, so it cannot reach a terminal as
            // a line break or an escape sequence.
            Err(PullError::Object(why)) => sum
                .rejected
                .push(format!("{}: {why}", remote.url(key).escape_debug())),
            Err(PullError::Local(e)) => return Err(e),
        }
    }
    let rid = remote.id();
    let events_dir = remote.key("registry/events/");
    let mut pending = Vec::new();
    for key in remote.list("registry/events/").await? {
        let rel = key.strip_prefix(&remote.prefix).unwrap_or(&key).to_string();
        if store.sync_marked(SyncKind::AppliedEvent, &format!("{rid}#{rel}"))? {
            continue;
        }
        let ev = async {
            if key
                .strip_prefix(&events_dir)
                .is_none_or(|k| k.contains('/'))
            {
                return Err("not an alias event key".to_string());
            }
            let bytes = remote
                .get(&key, MAX_EVENT_BYTES)
                .await
                .map_err(|e| cause_of(&e))?;
            let ev: EventDoc =
                serde_json::from_slice(&bytes).map_err(|e| format!("not an alias event ({e})"))?;
            ev.validate(&rel).map_err(|e| e.to_string())?;
            Ok(ev)
        }
        .await;
        match ev {
            Ok(ev) => pending.push((rel, key, ev)),
            Err(why) => sum
                .rejected
                .push(format!("{}: {why}", remote.url(&key).escape_debug())),
        }
    }
    // The bucket's history in its own order, whatever order the moves were pushed in.
    pending.sort_by(|a, b| (a.2.at, &a.0).cmp(&(b.2.at, &b.0)));
    for (rel, key, ev) in pending {
        if !store.run_exists(&ev.run_id)? {
            sum.waiting.push(format!(
                "{}: run {} is not in the bucket yet",
                remote.url(&key),
                ev.run_id
            ));
            continue;
        }
        match store.replay_event(&ev, &remote.url(&key)) {
            Ok(r) => {
                match &r {
                    Replayed::Moved { .. } => sum.events += 1,
                    Replayed::History { .. } => sum.history += 1,
                    Replayed::AlreadyHere { .. } => {}
                }
                store.mark_event_synced(&rid, r.event_id(), &rel)?;
            }
            Err(RegistryError::Store(e)) => return Err(e.into()),
            Err(e) => sum
                .rejected
                .push(format!("{}: {e}", remote.url(&key).escape_debug())),
        }
    }
    let Some(since) = captures else {
        return Ok(sum);
    };
    // Captures last: the runs and moves just pulled give their rows this workspace's versions.
    let mut caps = crate::capture::import::pull(cfg, &mut store, remote, since).await?;
    sum.rejected.append(&mut caps.rejected);
    sum.captures = caps;
    Ok(sum)
}

/// Why one object could not be pulled: the object's fault (skip it) or this machine's (stop).
enum PullError {
    Object(String),
    Local(anyhow::Error),
}

impl From<StoreError> for PullError {
    fn from(e: StoreError) -> Self {
        PullError::Local(e.into())
    }
}

/// The words of a sync error without the bucket and key (the report adds them once).
pub fn cause_of(e: &SyncError) -> String {
    match e {
        SyncError::Object { cause, .. } => cause.clone(),
        SyncError::Corrupt {
            expected, found, ..
        } => format!("sha256 is {found}, expected {expected}: the object is corrupted"),
    }
}

async fn pull_run(
    cfg: &Config,
    remote: &Remote,
    store: &mut Store,
    key: &str,
    sum: &mut Summary,
) -> Result<(), PullError> {
    let obj = PullError::Object;
    let id = key
        .strip_prefix(&remote.key("runs/"))
        .and_then(|k| k.strip_suffix(".json"))
        .ok_or_else(|| obj("not a run document key".into()))?;
    if !valid_run_id(id) {
        return Err(obj(format!(
            "'{}' is not a run id (1 to 64 ASCII letters, digits or '-')",
            id.escape_debug()
        )));
    }
    if store.run_exists(id)? {
        return Ok(());
    }
    let bytes = remote
        .get(key, MAX_RUN_DOC_BYTES)
        .await
        .map_err(|e| obj(cause_of(&e)))?;
    let doc: RunDoc =
        serde_json::from_slice(&bytes).map_err(|e| obj(format!("not a run document ({e})")))?;
    doc.validate().map_err(|e| obj(e.to_string()))?;
    if doc.id != id {
        return Err(obj(format!("holds run {}, not {id}", doc.id)));
    }
    let mut paths = Vec::with_capacity(doc.artifacts.len());
    for a in &doc.artifacts {
        let path = local_artifact(cfg, a).map_err(|e| obj(e.to_string()))?;
        let n = a.bytes as u64;
        if !have_artifact(&path, n, &a.sha256) {
            let akey = remote.key(&format!("artifacts/{}", a.sha256));
            if let Some(dir) = path.parent() {
                crate::util::create_private_dir(dir)
                    .map_err(|e| PullError::Local(anyhow::anyhow!("{}: {e}", dir.display())))?;
            }
            let got = remote
                .download(&akey, &path, n, &a.sha256)
                .await
                .map_err(|e| obj(format!("artifact {}: {e}", a.name)))?;
            sum.artifact_bytes += got;
            sum.artifacts += 1;
        }
        paths.push((a.name.clone(), path.display().to_string()));
    }
    let inserted = store.import_run(&doc, |a| {
        paths
            .iter()
            .find(|(n, _)| *n == a.name)
            .map(|(_, p)| p.clone())
            .unwrap_or_default()
    })?;
    if inserted {
        sum.runs += 1;
    }
    Ok(())
}

/// What is ahead (local only) and behind (bucket only).
#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct Status {
    pub bucket: String,
    pub prefix: String,
    pub ahead_runs: Vec<String>,
    pub behind_runs: Vec<String>,
    pub unpushed_events: usize,
    pub unapplied_events: usize,
}

pub async fn status(cfg: &Config, remote: &Remote) -> anyhow::Result<Status> {
    let store = Store::open(&cfg.db_path)?;
    let remote_runs: BTreeSet<String> = remote
        .list("runs/")
        .await?
        .iter()
        .filter_map(|k| {
            k.strip_prefix(&remote.key("runs/"))?
                .strip_suffix(".json")
                .map(str::to_string)
        })
        .collect();
    let local: BTreeSet<String> = store.finished_run_ids()?.into_iter().collect();
    let rid = remote.id();
    let mut unapplied = 0;
    for key in remote.list("registry/events/").await? {
        let rel = key.strip_prefix(&remote.prefix).unwrap_or(&key);
        if !store.sync_marked(SyncKind::AppliedEvent, &format!("{rid}#{rel}"))? {
            unapplied += 1;
        }
    }
    let mut behind = Vec::new();
    for id in remote_runs.difference(&local) {
        if !store.run_exists(id)? {
            behind.push(id.clone());
        }
    }
    Ok(Status {
        bucket: remote.bucket.clone(),
        prefix: remote.prefix.clone(),
        ahead_runs: local.difference(&remote_runs).cloned().collect(),
        behind_runs: behind,
        unpushed_events: store.unpushed_events(&rid)?.len(),
        unapplied_events: unapplied,
    })
}

/// Uploads a consistent snapshot of the store made with SQLite's online backup. The snapshot
/// lives in a private temporary folder in the workspace that is removed however this ends.
pub async fn backup(cfg: &Config, remote: &Remote) -> anyhow::Result<(String, u64)> {
    let store = Store::open(&cfg.db_path)?;
    let dir = crate::util::TempDir::new_in(&cfg.workspace, ".backup")
        .with_context(|| format!("creating a temporary folder in {}", cfg.workspace.display()))?;
    let snap = dir.path().join("snapshot.db");
    store.backup_to(&snap)?;
    let bytes = std::fs::read(&snap)?;
    drop(dir);
    let stamp = crate::util::format_ms(crate::util::now_ms())
        .replace([' ', ':'], "")
        .replace('-', "");
    let key = remote.key(&format!(
        "backups/{stamp}-{}-staytrack.db",
        &sha256_hex(&bytes)[..12]
    ));
    let n = bytes.len() as u64;
    remote.put_new(&key, bytes).await?;
    Ok((key, n))
}

/// The runtime sync runs on: two workers are plenty for a handful of S3 requests.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

/// What an automatic push did, in one line for a status bar or stderr.
#[derive(Debug, Clone, PartialEq)]
pub struct AutoPush {
    /// False when the push failed and the runs stayed local.
    pub pushed: bool,
    pub line: String,
}

/// After training, with `auto = true`: pushes the new runs (a failure leaves them local and says
/// so); `None` when sync is not set to push.
pub fn auto_push(cfg: &Config, run_ids: &[String]) -> Option<AutoPush> {
    let s = match SyncSettings::load(cfg) {
        Ok(s) if s.auto && s.bucket.is_some() => s,
        Ok(_) => return None,
        Err(e) => {
            return Some(AutoPush {
                pushed: false,
                line: format!("sync: {e:#}"),
            })
        }
    };
    let res = runtime().and_then(|rt| {
        rt.block_on(async {
            let r = Remote::connect(&s).await?;
            push(cfg, &r, Some(run_ids)).await
        })
    });
    Some(match res {
        Ok(sum) => AutoPush {
            pushed: true,
            line: format!(
                "sync: pushed {} run(s) and {} artifact(s) to s3://{}",
                sum.runs,
                sum.artifacts,
                s.bucket.as_deref().unwrap_or_default()
            ),
        },
        Err(e) => AutoPush {
            pushed: false,
            line: format!(
                "sync: the runs stay safe in {}; push them later with `staytrack sync push` ({e:#})",
                cfg.db_path.display()
            ),
        },
    })
}
