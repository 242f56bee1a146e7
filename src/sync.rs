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

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::Context;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use aws_sdk_s3::Client;
use serde::{Deserialize, Serialize};

use crate::bundle::sha256_hex;
use crate::config::Config;
use crate::tracking::sync::{EventDoc, RunDoc};
use crate::tracking::Store;

/// Objects above this size go up in parts of this size.
pub const MULTIPART_BYTES: usize = 8 * 1024 * 1024;

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

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("s3://{bucket}/{key}: {cause}")]
    Object {
        bucket: String,
        key: String,
        cause: String,
    },
    #[error(
        "s3://{bucket}/{key}: sha256 is {found}, expected {expected}: the object is corrupted"
    )]
    Corrupt {
        bucket: String,
        key: String,
        expected: String,
        found: String,
    },
}

/// A short cause for an S3 failure: no credentials, access denied, no such bucket, network;
/// then the SDK's own words (first line of each error in the chain).
fn cause<E, R>(e: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    let mut detail = String::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cur {
        let line = c.to_string();
        let line = line.lines().next().unwrap_or_default().trim().to_string();
        if !line.is_empty() && !detail.contains(&line) {
            if !detail.is_empty() {
                detail.push_str(": ");
            }
            detail.push_str(&line);
        }
        cur = c.source();
    }
    let lower = detail.to_lowercase();
    let (code, message) = match e {
        SdkError::ServiceError(s) => (
            s.err().code().map(str::to_string),
            s.err().message().map(str::to_string),
        ),
        _ => (None, None),
    };
    let what = match code.as_deref() {
        Some("NoSuchBucket") => "no such bucket".to_string(),
        Some(
            "AccessDenied" | "InvalidAccessKeyId" | "SignatureDoesNotMatch" | "AllAccessDisabled",
        ) => "access denied".to_string(),
        Some(c) => format!("S3 error {c}"),
        None if lower.contains("credential") => {
            "no credentials (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, a profile, a web \
             identity or an instance role)"
                .to_string()
        }
        None if matches!(e, SdkError::DispatchFailure(_) | SdkError::TimeoutError(_)) => {
            "network: the endpoint cannot be reached".to_string()
        }
        None => "request failed".to_string(),
    };
    match message {
        Some(m) => format!("{what} ({m})"),
        None => format!("{what} ({detail})"),
    }
}

fn is_precondition_failed<E, R>(e: &SdkError<E, R>) -> bool
where
    E: ProvideErrorMetadata,
{
    match e {
        SdkError::ServiceError(s) => {
            s.err().code() == Some("PreconditionFailed")
                || s.err().code() == Some("ConditionalRequestConflict")
        }
        _ => false,
    }
}

/// The bucket, its prefix and a client.
pub struct Remote {
    client: Client,
    pub bucket: String,
    prefix: String,
}

impl Remote {
    pub async fn connect(s: &SyncSettings) -> anyhow::Result<Remote> {
        let bucket = s.bucket.clone().context(
            "no bucket: give --bucket, set STAYTRACK_SYNC_BUCKET, or set [sync] bucket in staytrack.toml",
        )?;
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        let mut loader =
            aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(http);
        if let Some(r) = &s.region {
            loader = loader.region(aws_config::Region::new(r.clone()));
        }
        let sdk = loader.load().await;
        let mut conf = aws_sdk_s3::config::Builder::from(&sdk);
        if sdk.region().is_none() {
            conf = conf.region(aws_config::Region::new("us-east-1"));
        }
        if let Some(ep) = &s.endpoint {
            conf = conf.endpoint_url(ep).force_path_style(true);
        }
        let prefix = s.prefix.trim_matches('/').to_string();
        Ok(Remote {
            client: Client::from_conf(conf.build()),
            bucket,
            prefix: if prefix.is_empty() {
                String::new()
            } else {
                format!("{prefix}/")
            },
        })
    }

    fn key(&self, rest: &str) -> String {
        format!("{}{rest}", self.prefix)
    }

    fn err(&self, key: &str, cause: String) -> SyncError {
        SyncError::Object {
            bucket: self.bucket.clone(),
            key: key.to_string(),
            cause,
        }
    }

    /// Every key under `dir` (relative to the prefix).
    pub async fn list(&self, dir: &str) -> Result<BTreeSet<String>, SyncError> {
        let prefix = self.key(dir);
        let mut out = BTreeSet::new();
        let mut token = None;
        loop {
            let page = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(&prefix)
                .set_continuation_token(token)
                .send()
                .await
                .map_err(|e| self.err(&prefix, cause(&e)))?;
            for o in page.contents() {
                if let Some(k) = o.key() {
                    out.insert(k.to_string());
                }
            }
            match page.next_continuation_token() {
                Some(t) if page.is_truncated() == Some(true) => token = Some(t.to_string()),
                _ => return Ok(out),
            }
        }
    }

    pub async fn get(&self, key: &str) -> Result<Vec<u8>, SyncError> {
        let o = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| self.err(key, cause(&e)))?;
        let body = o
            .body
            .collect()
            .await
            .map_err(|e| self.err(key, format!("network: reading the object failed ({e})")))?;
        Ok(body.into_bytes().to_vec())
    }

    /// Writes `bytes` unless the key exists; returns false when it already did.
    pub async fn put_new(&self, key: &str, bytes: Vec<u8>) -> Result<bool, SyncError> {
        if bytes.len() > MULTIPART_BYTES {
            return self.put_multipart(key, bytes).await;
        }
        match self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .if_none_match("*")
            .body(ByteStream::from(bytes))
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if is_precondition_failed(&e) => Ok(false),
            Err(e) => Err(self.err(key, cause(&e))),
        }
    }

    async fn put_multipart(&self, key: &str, bytes: Vec<u8>) -> Result<bool, SyncError> {
        let up = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| self.err(key, cause(&e)))?;
        let id = up
            .upload_id()
            .ok_or_else(|| self.err(key, "no upload id in the answer".into()))?
            .to_string();
        let mut parts = Vec::new();
        for (i, chunk) in bytes.chunks(MULTIPART_BYTES).enumerate() {
            let n = i as i32 + 1;
            let res = self
                .client
                .upload_part()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(&id)
                .part_number(n)
                .body(ByteStream::from(chunk.to_vec()))
                .send()
                .await;
            match res {
                Ok(p) => parts.push(
                    CompletedPart::builder()
                        .part_number(n)
                        .set_e_tag(p.e_tag().map(str::to_string))
                        .build(),
                ),
                Err(e) => {
                    let _ = self.abort(key, &id).await;
                    return Err(self.err(key, cause(&e)));
                }
            }
        }
        let done = self
            .client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(&id)
            .if_none_match("*")
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await;
        match done {
            Ok(_) => Ok(true),
            // Some S3-compatible stores answer 200 with a body the SDK cannot parse; the upload
            // happened if the object is there at its full size.
            Err(e) if e.raw_response().is_some_and(|r| r.status().is_success()) => {
                let head = self
                    .client
                    .head_object()
                    .bucket(&self.bucket)
                    .key(key)
                    .send()
                    .await
                    .map_err(|e| self.err(key, cause(&e)))?;
                if head.content_length() == Some(bytes.len() as i64) {
                    Ok(true)
                } else {
                    Err(self.err(key, cause(&e)))
                }
            }
            Err(e) if is_precondition_failed(&e) => {
                let _ = self.abort(key, &id).await;
                Ok(false)
            }
            Err(e) => {
                let _ = self.abort(key, &id).await;
                Err(self.err(key, cause(&e)))
            }
        }
    }

    async fn abort(&self, key: &str, id: &str) -> Result<(), SyncError> {
        self.client
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(id)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| self.err(key, cause(&e)))
    }
}

/// What a push or pull did.
#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub runs: usize,
    pub artifacts: usize,
    pub artifact_bytes: u64,
    pub events: usize,
    pub skipped: Vec<String>,
}

fn local_artifact(cfg: &Config, sha: &str, file: &str) -> PathBuf {
    let file = if file.is_empty() {
        format!("{sha}.bundle")
    } else {
        file.to_string()
    };
    cfg.artifacts_dir
        .join(sha.get(..2).unwrap_or("__"))
        .join(file)
}

fn event_key(ev: &EventDoc) -> String {
    let body = serde_json::to_vec(ev).unwrap_or_default();
    format!(
        "registry/events/{:013}-{}.json",
        ev.at,
        &sha256_hex(&body)[..12]
    )
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
            let path = local_artifact(cfg, &a.sha256, &a.file);
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
        store.sync_mark("pushed_run", &id)?;
    }
    if only.is_none() {
        for (local_id, ev) in store.unpushed_events()? {
            let key = remote.key(&event_key(&ev));
            if remote
                .put_new(&key, serde_json::to_vec_pretty(&ev)?)
                .await?
            {
                sum.events += 1;
            }
            store.sync_mark("pushed_event", &local_id.to_string())?;
            store.sync_mark("applied_event", &key)?;
        }
    }
    Ok(sum)
}

/// Fetches runs the store lacks (artifacts verified first), then replays alias events in order.
pub async fn pull(cfg: &Config, remote: &Remote) -> anyhow::Result<Summary> {
    let mut store = Store::open(&cfg.db_path)?;
    let mut sum = Summary::default();
    let runs = remote.list("runs/").await?;
    for key in &runs {
        let Some(id) = key
            .strip_prefix(&remote.key("runs/"))
            .and_then(|k| k.strip_suffix(".json"))
        else {
            continue;
        };
        if store.run_exists(id)? {
            continue;
        }
        let bytes = remote.get(key).await?;
        let doc: RunDoc = serde_json::from_slice(&bytes)
            .map_err(|e| remote.err(key, format!("not a run document ({e})")))?;
        anyhow::ensure!(doc.id == id, "{}: holds run {}, not {id}", key, doc.id);
        for a in &doc.artifacts {
            let path = local_artifact(cfg, &a.sha256, &a.file);
            if std::fs::read(&path).is_ok_and(|b| sha256_hex(&b) == a.sha256) {
                continue;
            }
            let akey = remote.key(&format!("artifacts/{}", a.sha256));
            let bytes = remote.get(&akey).await?;
            let found = sha256_hex(&bytes);
            if found != a.sha256 {
                return Err(SyncError::Corrupt {
                    bucket: remote.bucket.clone(),
                    key: akey,
                    expected: a.sha256.clone(),
                    found,
                }
                .into());
            }
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            sum.artifact_bytes += bytes.len() as u64;
            crate::util::atomic_write(&path, &bytes)?;
            sum.artifacts += 1;
        }
        let inserted = store.import_run(&doc, |a| {
            local_artifact(cfg, &a.sha256, &a.file)
                .display()
                .to_string()
        })?;
        if inserted {
            sum.runs += 1;
        }
    }
    let events = remote.list("registry/events/").await?;
    for key in &events {
        if store.sync_marked("applied_event", key)? {
            continue;
        }
        let ev: EventDoc = serde_json::from_slice(&remote.get(key).await?)
            .map_err(|e| remote.err(key, format!("not an alias event ({e})")))?;
        if !store.run_exists(&ev.run_id)? {
            // The run has not been pushed yet; a later pull applies the move.
            sum.skipped
                .push(format!("{key}: run {} is not in the bucket yet", ev.run_id));
            continue;
        }
        // Last writer wins: a move older than the alias's latest local move is history.
        let newer_local = store
            .alias_events(Some(&ev.alias), 1)?
            .first()
            .is_some_and(|last| last.at > ev.at);
        if !newer_local {
            let before = store.last_event_id()?;
            let reason = ev.reason.clone().unwrap_or_default();
            store.promote_run(
                &ev.run_id,
                &ev.alias,
                &format!("{} (via sync)", ev.actor),
                Some(&reason).filter(|r| !r.is_empty()).map(|s| s.as_str()),
            )?;
            if let Some(after) = store.last_event_id()? {
                if Some(after) != before {
                    // The replayed move is the bucket's already: never push it back.
                    store.sync_mark("pushed_event", &after.to_string())?;
                }
            }
            sum.events += 1;
        }
        store.sync_mark("applied_event", key)?;
    }
    Ok(sum)
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
    let mut unapplied = 0;
    for key in remote.list("registry/events/").await? {
        if !store.sync_marked("applied_event", &key)? {
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
        unpushed_events: store.unpushed_events()?.len(),
        unapplied_events: unapplied,
    })
}

/// Uploads a consistent snapshot of the store made with SQLite's online backup.
pub async fn backup(cfg: &Config, remote: &Remote) -> anyhow::Result<(String, u64)> {
    let store = Store::open(&cfg.db_path)?;
    let dir = tempfile_dir(&cfg.workspace)?;
    let snap = dir.join("snapshot.db");
    store.backup_to(&snap)?;
    let bytes = std::fs::read(&snap)?;
    let _ = std::fs::remove_dir_all(&dir);
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

fn tempfile_dir(workspace: &Path) -> anyhow::Result<PathBuf> {
    let dir = workspace.join(format!(".backup-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}
