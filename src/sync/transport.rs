//! The S3 transport: a client for one bucket and prefix, conditional writes, multipart uploads,
//! and reads bounded in size and time. It knows objects, not runs.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::Context;

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use aws_sdk_s3::Client;

use super::SyncSettings;

/// Objects above this size go up in parts of this size.
pub const MULTIPART_BYTES: usize = 8 * 1024 * 1024;
/// A request or a body that makes no progress for this long is given up.
const STALL: std::time::Duration = std::time::Duration::from_secs(60);

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

    /// Every key under `dir` (relative to the prefix).
    pub async fn list(&self, dir: &str) -> Result<BTreeSet<String>, SyncError> {
        let prefix = self.key(dir);
        let mut out = BTreeSet::new();
        let mut token = None;
        loop {
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

#[cfg(test)]
mod tests {
    use super::url_decoded;

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
