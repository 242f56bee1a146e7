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
use crate::tracking::sync::{
    valid_run_id, ArtifactRef, DocError, EventDoc, RunDoc, MAX_EVENT_BYTES, MAX_RUN_DOC_BYTES,
};
use crate::tracking::{RegistryError, Replayed, Store, StoreError};

/// Objects above this size go up in parts of this size.
pub const MULTIPART_BYTES: usize = 8 * 1024 * 1024;
/// A request or a body that makes no progress for this long is given up.
const STALL: std::time::Duration = std::time::Duration::from_secs(60);

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

    /// `s3://bucket/prefix`: what the store's bookkeeping of pushed and applied moves is kept
    /// per, so a second bucket gets every move too.
    pub fn id(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.prefix)
    }

    /// Where an object is, for messages.
    fn url(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
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

    /// An object of at most `max` bytes, refused from its declared length before the body is
    /// read and cut off if the body runs longer than that.
    pub async fn get(&self, key: &str, max: u64) -> Result<Vec<u8>, SyncError> {
        let mut o = self.open(key, max).await?;
        let mut out = Vec::new();
        while let Some(chunk) = self.next_chunk(key, &mut o.body).await? {
            if out.len() as u64 + chunk.len() as u64 > max {
                return Err(self.err(key, format!("larger than the {max} bytes allowed")));
            }
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }

    async fn open(
        &self,
        key: &str,
        max: u64,
    ) -> Result<aws_sdk_s3::operation::get_object::GetObjectOutput, SyncError> {
        let o = tokio::time::timeout(
            STALL,
            self.client
                .get_object()
                .bucket(&self.bucket)
                .key(key)
                .send(),
        )
        .await
        .map_err(|_| self.err(key, format!("no answer within {} s", STALL.as_secs())))?
        .map_err(|e| self.err(key, cause(&e)))?;
        if o.content_length().is_some_and(|n| n < 0 || n as u64 > max) {
            return Err(self.err(
                key,
                format!(
                    "declares {} bytes, more than the {max} allowed",
                    o.content_length().unwrap_or_default()
                ),
            ));
        }
        Ok(o)
    }

    /// The next piece of a body; a body that stalls longer than `STALL` is an error.
    async fn next_chunk(
        &self,
        key: &str,
        body: &mut ByteStream,
    ) -> Result<Option<bytes::Bytes>, SyncError> {
        match tokio::time::timeout(STALL, body.next()).await {
            Err(_) => Err(self.err(
                key,
                format!("the download stalled for {} s", STALL.as_secs()),
            )),
            Ok(None) => Ok(None),
            Ok(Some(Ok(b))) => Ok(Some(b)),
            Ok(Some(Err(e))) => {
                Err(self.err(key, format!("network: reading the object failed ({e})")))
            }
        }
    }

    /// Streams an artifact into `dest` (temporary file, fsync, rename), hashing as it goes; stops
    /// at the declared size and keeps nothing unless the bytes hash to `sha256`.
    pub async fn download(
        &self,
        key: &str,
        dest: &Path,
        bytes: u64,
        sha256: &str,
    ) -> Result<u64, SyncError> {
        use sha2::Digest;
        use std::io::Write;
        let mut o = self.open(key, bytes).await?;
        let io = |e: std::io::Error| self.err(key, format!("writing {}: {e}", dest.display()));
        let tmp = crate::util::TempFile::beside(dest).map_err(io)?;
        let mut file = std::io::BufWriter::new(tmp.file().map_err(io)?);
        let mut hash = sha2::Sha256::new();
        let mut n = 0u64;
        while let Some(chunk) = self.next_chunk(key, &mut o.body).await? {
            n += chunk.len() as u64;
            if n > bytes {
                return Err(self.err(key, format!("longer than its declared {bytes} bytes")));
            }
            hash.update(&chunk);
            file.write_all(&chunk).map_err(io)?;
        }
        let found = crate::bundle::hex(&hash.finalize());
        if found != sha256 {
            return Err(SyncError::Corrupt {
                bucket: self.bucket.clone(),
                key: key.to_string(),
                expected: sha256.to_string(),
                found,
            });
        }
        let file = file.into_inner().map_err(|e| io(e.into_error()))?;
        file.sync_all().map_err(io)?;
        drop(file);
        tmp.persist(dest).map_err(io)?;
        Ok(n)
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
    /// Alias moves written (push) or that moved an alias (pull).
    pub events: usize,
    /// Pull: older moves written to the audit log without moving their alias.
    pub history: usize,
    /// Pull: moves whose run is not in the bucket yet; a later pull applies them.
    pub waiting: Vec<String>,
    /// Objects refused, as `s3://bucket/key: why`; the rest went ahead without them.
    pub rejected: Vec<String>,
}

/// The workspace's copy of an artifact: `artifacts/<first two hex digits>/<sha256>.<ext>`.
fn local_artifact(cfg: &Config, a: &ArtifactRef) -> Result<PathBuf, DocError> {
    Ok(cfg.artifacts_dir.join(&a.sha256[..2]).join(a.local_name()?))
}

/// Whether `path` is a regular file of `bytes` bytes hashing to `sha256` (read in pieces, so
/// a huge or endless file costs no memory).
fn have_artifact(path: &Path, bytes: u64, sha256: &str) -> bool {
    use sha2::Digest;
    use std::io::Read;
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return false;
    };
    if !meta.is_file() || meta.len() != bytes {
        return false;
    }
    let Ok(mut f) = std::fs::File::open(path) else {
        return false;
    };
    let mut hash = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => hash.update(&buf[..n]),
            Err(_) => return false,
        }
    }
    crate::bundle::hex(&hash.finalize()) == sha256
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
            let rel = ev.key();
            if remote
                .put_new(&remote.key(&rel), serde_json::to_vec_pretty(&ev)?)
                .await?
            {
                sum.events += 1;
            }
            store.mark_event_synced(&rid, local_id, &rel)?;
        }
    }
    Ok(sum)
}

/// Fetches runs the store lacks (every document validated and every artifact verified before
/// anything is written), then replays the bucket's alias moves by their original time. A bad
/// object is skipped and reported in `rejected`; it never stops the rest.
pub async fn pull(cfg: &Config, remote: &Remote) -> anyhow::Result<Summary> {
    let mut store = Store::open(&cfg.db_path)?;
    let mut sum = Summary::default();
    for key in &remote.list("runs/").await? {
        match pull_run(cfg, remote, &mut store, key, &mut sum).await {
            Ok(()) => {}
            Err(PullError::Object(why)) => sum.rejected.push(format!("{}: {why}", remote.url(key))),
            Err(PullError::Local(e)) => return Err(e),
        }
    }
    let rid = remote.id();
    let events_dir = remote.key("registry/events/");
    let mut pending = Vec::new();
    for key in remote.list("registry/events/").await? {
        let rel = key.strip_prefix(&remote.prefix).unwrap_or(&key).to_string();
        if store.sync_marked("applied_event", &format!("{rid}#{rel}"))? {
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
            Err(why) => sum.rejected.push(format!("{}: {why}", remote.url(&key))),
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
            Err(e) => sum.rejected.push(format!("{}: {e}", remote.url(&key))),
        }
    }
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
fn cause_of(e: &SyncError) -> String {
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
        if !store.sync_marked("applied_event", &format!("{rid}#{rel}"))? {
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
