//! The S3 transport: a client for one bucket and prefix, conditional writes, multipart uploads,
//! and reads bounded in size and time. It knows objects, not runs.
//!
//! Every read ends: a body is given up when it falls below a minimum rate over a sliding
//! window or passes a deadline scaled by its size, and a listing when it repeats a
//! continuation token or passes a page bound. A bucket that answers slowly, byte by byte, or in
//! circles costs a bounded time, so a pull run in a loop always comes round again.

use std::collections::{BTreeSet, HashSet, VecDeque};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use aws_sdk_s3::Client;

use super::SyncSettings;

/// Objects above this size go up in parts of this size.
pub const MULTIPART_BYTES: usize = 8 * 1024 * 1024;
/// A request or a body that makes no progress for this long is given up.
const STALL: Duration = Duration::from_secs(60);

/// The slowest a download may go: at least `bytes` in every `window`, once one window has
/// passed since its request. Every byte counting as progress is not enough: a bucket sending a
/// byte a second would never stall, and never finish either.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MinRate {
    pub bytes: u64,
    pub window: Duration,
}

/// 64 KiB in any 30 s (about 2 KiB/s): a trickle that would take hours is given up after
/// 30 s, while a link a hundred times slower than a poor one still passes.
pub const MIN_RATE: MinRate = MinRate {
    bytes: 64 * 1024,
    window: Duration::from_secs(30),
};

/// `BYTES/SECONDS` in this variable replaces `MIN_RATE` (for a link known to be slow, or a test
/// that cannot wait 30 s).
pub const MIN_RATE_VAR: &str = "STAYTRACK_SYNC_MIN_RATE";

/// Every object has this long, plus its size at `DEADLINE_BYTES_PER_SEC`, from its request to
/// its last byte: a body that keeps just above the minimum rate still ends.
pub const DEADLINE_BASE: Duration = Duration::from_secs(60);
/// 256 KiB/s (2 Mbit/s): the average rate a whole object must at least keep, past the base.
pub const DEADLINE_BYTES_PER_SEC: u64 = 256 * 1024;

/// A listing with more pages than this is given up: ten million keys, far past any bucket
/// staytrack writes (a year of hourly capture segments from a hundred replicas is under a
/// million), and a bound on the memory the keys take.
pub const MAX_LIST_PAGES: usize = 10_000;

impl MinRate {
    /// `BYTES/SECONDS`, two whole numbers above zero, as `STAYTRACK_SYNC_MIN_RATE` gives it.
    pub fn parse(s: &str) -> Option<MinRate> {
        let (b, w) = s.trim().split_once('/')?;
        let bytes: u64 = b.trim().parse().ok().filter(|n| *n > 0)?;
        let secs: u64 = w.trim().parse().ok().filter(|n| *n > 0)?;
        Some(MinRate {
            bytes,
            window: Duration::from_secs(secs),
        })
    }

    /// `MIN_RATE`, or what `STAYTRACK_SYNC_MIN_RATE` says; a value that does not read is an
    /// error, never a silent default.
    fn from_env() -> anyhow::Result<MinRate> {
        match std::env::var(MIN_RATE_VAR) {
            Ok(v) if !v.trim().is_empty() => MinRate::parse(&v).with_context(|| {
                format!(
                    "{MIN_RATE_VAR}='{}': use BYTES/SECONDS, whole numbers above zero, e.g. 65536/30",
                    v.escape_debug()
                )
            }),
            _ => Ok(MIN_RATE),
        }
    }
}

/// Which rule gives a download up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Limit {
    Stall,
    Rate,
    Deadline,
}

/// One object's download against the rules: no stall longer than `STALL`, at least the
/// minimum rate over every window, done by its deadline.
#[derive(Debug)]
struct Pace {
    rate: MinRate,
    start: Instant,
    /// None when the size is too large for a deadline to be told apart from never.
    deadline: Option<Instant>,
    /// The size the object declares, once known.
    size: Option<u64>,
    total: u64,
    last: Instant,
    /// (when, bytes by then) from the oldest piece the rate rule may still need onwards: the
    /// pieces before it are more than a window's minimum behind the total, for good.
    seen: VecDeque<(Instant, u64)>,
}

impl Pace {
    fn new(rate: MinRate, start: Instant) -> Pace {
        Pace {
            rate,
            start,
            deadline: start.checked_add(DEADLINE_BASE),
            size: None,
            total: 0,
            last: start,
            seen: VecDeque::from([(start, 0)]),
        }
    }

    /// The object declares `size` bytes: its deadline is the base plus the size at
    /// `DEADLINE_BYTES_PER_SEC`.
    fn sized(&mut self, size: u64) {
        let ms = u128::from(size) * 1000 / u128::from(DEADLINE_BYTES_PER_SEC);
        self.size = Some(size);
        self.deadline = u64::try_from(ms)
            .ok()
            .and_then(|ms| DEADLINE_BASE.checked_add(Duration::from_millis(ms)))
            .and_then(|d| self.start.checked_add(d));
    }

    fn received(&mut self, now: Instant, n: u64) {
        self.total += n;
        self.last = now;
        self.seen.push_back((now, self.total));
        while self
            .seen
            .front()
            .is_some_and(|&(_, by)| by.saturating_add(self.rate.bytes) <= self.total)
        {
            self.seen.pop_front();
        }
    }

    /// When the download is given up unless more bytes come first, and by which rule. With no
    /// more bytes, the window ending at `t` holds `total - (bytes by t - window)`, which falls
    /// under the minimum once `t - window` reaches the first piece that is less than the
    /// minimum behind the total (the request itself when the total is under the minimum).
    fn limit(&self) -> (Instant, Limit) {
        let since = self.seen.front().map_or(self.start, |&(t, _)| t);
        let mut out = (self.last + STALL, Limit::Stall);
        // A window too long to add to a clock is no limit at all.
        if let Some(rate) = since.checked_add(self.rate.window).filter(|r| *r < out.0) {
            out = (rate, Limit::Rate);
        }
        if let Some(d) = self.deadline.filter(|d| *d < out.0) {
            out = (d, Limit::Deadline);
        }
        out
    }

    /// Why the download was given up at `now`, with the numbers.
    fn why(&self, limit: Limit, now: Instant) -> String {
        let of = match self.size {
            Some(n) => format!("{} of {n} bytes", self.total),
            None => format!("{} bytes", self.total),
        };
        let secs = now.saturating_duration_since(self.start).as_secs_f64();
        match limit {
            Limit::Stall => format!(
                "the download stalled for {} s: {of} in {secs:.0} s; given up",
                STALL.as_secs()
            ),
            Limit::Rate => format!(
                "the download fell below {} bytes in {} s: {of} in {secs:.0} s; given up",
                self.rate.bytes,
                self.rate.window.as_secs()
            ),
            Limit::Deadline => format!(
                "the download passed its deadline of {:.0} s ({} s plus its size at {} KiB/s): \
                 {of} in {secs:.0} s; given up",
                self.deadline.map_or(0.0, |d| d
                    .saturating_duration_since(self.start)
                    .as_secs_f64()),
                DEADLINE_BASE.as_secs(),
                DEADLINE_BYTES_PER_SEC / 1024
            ),
        }
    }
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

/// A key as S3 lists it with `encoding-type=url` (form encoding: `+` is a space), decoded; bytes
/// that do not decode to UTF-8 become U+FFFD, which no reader of staytrack's keys accepts.
fn url_decoded(k: &str) -> String {
    let b = k.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The bucket, its prefix and a client.
pub struct Remote {
    client: Client,
    pub bucket: String,
    pub prefix: String,
    /// `MIN_RATE`, or what `STAYTRACK_SYNC_MIN_RATE` says.
    rate: MinRate,
}

impl Remote {
    pub async fn connect(s: &SyncSettings) -> anyhow::Result<Remote> {
        let bucket = s.bucket.clone().context(
            "no bucket: give --bucket, set STAYTRACK_SYNC_BUCKET, or set [sync] bucket in staytrack.toml",
        )?;
        let rate = MinRate::from_env()?;
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
            rate,
            prefix: if prefix.is_empty() {
                String::new()
            } else {
                format!("{prefix}/")
            },
        })
    }

    pub fn key(&self, rest: &str) -> String {
        format!("{}{rest}", self.prefix)
    }

    /// `s3://bucket/prefix`: what the store's bookkeeping of pushed and applied moves is kept
    /// per, so a second bucket gets every move too.
    pub fn id(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.prefix)
    }

    /// Where an object is, for messages.
    pub fn url(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }

    pub fn err(&self, key: &str, cause: String) -> SyncError {
        SyncError::Object {
            bucket: self.bucket.clone(),
            key: key.to_string(),
            cause,
        }
    }

    /// Every key under `dir` (relative to the prefix). A listing that hands back a continuation
    /// token it gave before, or runs past `MAX_LIST_PAGES`, would go round forever: it is an
    /// error naming the bucket and the prefix.
    pub async fn list(&self, dir: &str) -> Result<BTreeSet<String>, SyncError> {
        use sha2::Digest;
        let prefix = self.key(dir);
        let mut out = BTreeSet::new();
        let mut token = None;
        // Digests, not the tokens: a token's length is the bucket's to choose.
        let mut tokens: HashSet<[u8; 32]> = HashSet::new();
        for n in 1..=MAX_LIST_PAGES {
            // Keys come URL-encoded, so a key holding a control character is one bad key for
            // its reader to refuse, not a listing the XML parser cannot read.
            let page = tokio::time::timeout(
                STALL,
                self.client
                    .list_objects_v2()
                    .bucket(&self.bucket)
                    .prefix(&prefix)
                    .encoding_type(aws_sdk_s3::types::EncodingType::Url)
                    .set_continuation_token(token)
                    .send(),
            )
            .await
            .map_err(|_| self.err(&prefix, format!("no listing within {} s", STALL.as_secs())))?
            .map_err(|e| self.err(&prefix, cause(&e)))?;
            for o in page.contents() {
                if let Some(k) = o.key() {
                    out.insert(url_decoded(k));
                }
            }
            match page.next_continuation_token() {
                Some(t) if page.is_truncated() == Some(true) => {
                    if !tokens.insert(sha2::Sha256::digest(t.as_bytes()).into()) {
                        return Err(self.err(
                            &prefix,
                            format!(
                                "the listing hands back a continuation token it gave before \
                                 (page {n}), so it would never end; given up"
                            ),
                        ));
                    }
                    token = Some(t.to_string());
                }
                _ => return Ok(out),
            }
        }
        Err(self.err(
            &prefix,
            format!("the listing goes on past {MAX_LIST_PAGES} pages; given up"),
        ))
    }

    /// An object of at most `max` bytes, refused from its declared length before the body is
    /// read and cut off if the body runs longer than that; given up as `Pace` says.
    pub async fn get(&self, key: &str, max: u64) -> Result<Vec<u8>, SyncError> {
        let mut pace = Pace::new(self.rate, Instant::now());
        let mut o = self.open(key, max, &mut pace).await?;
        let mut out = Vec::new();
        while let Some(chunk) = self.next_chunk(key, &mut o.body, &mut pace).await? {
            if out.len() as u64 + chunk.len() as u64 > max {
                return Err(self.err(key, format!("larger than the {max} bytes allowed")));
            }
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }

    /// The object's answer, within the time `pace` allows before any byte; its deadline then
    /// counts from the size it declares (`max` when it declares none).
    async fn open(
        &self,
        key: &str,
        max: u64,
        pace: &mut Pace,
    ) -> Result<aws_sdk_s3::operation::get_object::GetObjectOutput, SyncError> {
        let (until, _) = pace.limit();
        let o = tokio::time::timeout_at(
            until.into(),
            self.client
                .get_object()
                .bucket(&self.bucket)
                .key(key)
                .send(),
        )
        .await
        .map_err(|_| {
            let secs = until.saturating_duration_since(pace.start).as_secs();
            self.err(key, format!("no answer within {secs} s; given up"))
        })?
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
        pace.sized(o.content_length().map_or(max, |n| n as u64));
        Ok(o)
    }

    /// The next piece of a body; a body that breaks a rule of `pace` is an error naming the
    /// rule and how far it got.
    async fn next_chunk(
        &self,
        key: &str,
        body: &mut ByteStream,
        pace: &mut Pace,
    ) -> Result<Option<bytes::Bytes>, SyncError> {
        let (until, limit) = pace.limit();
        match tokio::time::timeout_at(until.into(), body.next()).await {
            Err(_) => Err(self.err(key, pace.why(limit, Instant::now()))),
            Ok(None) => Ok(None),
            Ok(Some(Ok(b))) => {
                let now = Instant::now();
                // A piece that comes after the limit does not undo it.
                if now >= until {
                    return Err(self.err(key, pace.why(limit, now)));
                }
                pace.received(now, b.len() as u64);
                Ok(Some(b))
            }
            Ok(Some(Err(e))) => {
                Err(self.err(key, format!("network: reading the object failed ({e})")))
            }
        }
    }

    /// Streams an artifact into `dest` (temporary file, fsync, rename), hashing as it goes; stops
    /// at the declared size, is given up as `Pace` says, and keeps nothing unless the bytes
    /// hash to `sha256`.
    pub async fn download(
        &self,
        key: &str,
        dest: &Path,
        bytes: u64,
        sha256: &str,
    ) -> Result<u64, SyncError> {
        use sha2::Digest;
        use std::io::Write;
        let mut pace = Pace::new(self.rate, Instant::now());
        let mut o = self.open(key, bytes, &mut pace).await?;
        let io = |e: std::io::Error| self.err(key, format!("writing {}: {e}", dest.display()));
        let tmp = crate::util::TempFile::beside(dest).map_err(io)?;
        let mut file = std::io::BufWriter::new(tmp.file().map_err(io)?);
        let mut hash = sha2::Sha256::new();
        let mut n = 0u64;
        while let Some(chunk) = self.next_chunk(key, &mut o.body, &mut pace).await? {
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

#[cfg(test)]
mod tests {
    use super::{url_decoded, Limit, MinRate, Pace, MIN_RATE};
    use std::time::{Duration, Instant};

    const S: Duration = Duration::from_secs(1);

    /// Feeds `pace` `n` bytes every `every` until a rule gives it up or `total` bytes came;
    /// returns when (after the request) and by which rule, or None when it finished.
    fn feed(pace: &mut Pace, every: Duration, n: u64, total: u64) -> Option<(Duration, Limit)> {
        let mut t = pace.start;
        while pace.total < total {
            t += every;
            let (until, limit) = pace.limit();
            if until <= t {
                return Some((until - pace.start, limit));
            }
            pace.received(t, n);
        }
        None
    }

    #[test]
    fn a_byte_a_second_is_given_up_after_one_window() {
        let mut p = Pace::new(MIN_RATE, Instant::now());
        p.sized(200_000);
        assert_eq!(
            feed(&mut p, S, 1, 200_000),
            Some((Duration::from_secs(30), Limit::Rate))
        );
        assert!(p
            .why(Limit::Rate, p.start + 30 * S)
            .contains("29 of 200000 bytes"));
    }

    #[test]
    fn a_burst_then_silence_is_given_up_one_window_after_the_burst() {
        let mut p = Pace::new(MIN_RATE, Instant::now());
        p.sized(100 << 20);
        p.received(p.start + 10 * S, 10 << 20);
        assert_eq!(p.limit(), (p.start + 40 * S, Limit::Rate));
        // Less than the minimum after it does not move the limit; the minimum does.
        p.received(p.start + 35 * S, 1024);
        assert_eq!(p.limit(), (p.start + 40 * S, Limit::Rate));
        p.received(p.start + 36 * S, 64 * 1024);
        assert_eq!(p.limit(), (p.start + 66 * S, Limit::Rate));
    }

    #[test]
    fn a_body_just_above_the_minimum_rate_still_meets_its_deadline() {
        // 4 KiB/s keeps 120 KiB in every 30 s, but 100 MiB would take seven hours.
        let mut p = Pace::new(MIN_RATE, Instant::now());
        p.sized(100 << 20);
        assert_eq!(
            feed(&mut p, S, 4096, 100 << 20),
            Some((Duration::from_secs(60 + 400), Limit::Deadline))
        );
        // At 1 MiB/s the same object comes whole.
        let mut p = Pace::new(MIN_RATE, Instant::now());
        p.sized(100 << 20);
        assert_eq!(feed(&mut p, S / 4, 256 * 1024, 100 << 20), None);
    }

    #[test]
    fn a_small_object_has_one_window_and_no_stall_outlasts_its_limit() {
        let mut p = Pace::new(MIN_RATE, Instant::now());
        p.sized(2000);
        assert_eq!(p.limit(), (p.start + 30 * S, Limit::Rate));
        let lax = MinRate {
            bytes: 1,
            window: Duration::from_secs(3600),
        };
        let mut p = Pace::new(lax, Instant::now());
        p.sized(0);
        p.received(p.start + 10 * S, 10);
        assert_eq!(p.limit(), (p.start + 60 * S, Limit::Deadline));
        p.received(p.start + 59 * S, 10);
        assert_eq!(p.limit().1, Limit::Deadline);
        p.sized(u64::MAX);
        assert_eq!(p.limit(), (p.start + 119 * S, Limit::Stall));
        let endless = MinRate::parse(&format!("1/{}", u64::MAX)).unwrap();
        let p = Pace::new(endless, Instant::now());
        assert_eq!(p.limit(), (p.start + 60 * S, Limit::Stall));
    }

    #[test]
    fn the_rate_variable_reads_bytes_over_seconds() {
        assert_eq!(
            MinRate::parse("65536/30"),
            Some(MinRate {
                bytes: 65536,
                window: Duration::from_secs(30)
            })
        );
        assert_eq!(MinRate::parse(" 1024 / 2 ").map(|r| r.bytes), Some(1024));
        for bad in [
            "", "1024", "0/30", "1024/0", "-1/3", "1k/3", "1/2/3", "1/2.5",
        ] {
            assert_eq!(MinRate::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn listed_keys_decode_as_s3_encodes_them() {
        assert_eq!(url_decoded("runs/a%2Bb+c.json"), "runs/a+b c.json");
        assert_eq!(url_decoded("x%1By"), "x\u{1b}y");
        assert_eq!(url_decoded("100%"), "100%");
        assert_eq!(url_decoded("a%zz%4"), "a%zz%4");
        assert_eq!(url_decoded("%FF"), "\u{fffd}");
        assert_eq!(url_decoded("plain/key-1.parquet"), "plain/key-1.parquet");
    }
}
