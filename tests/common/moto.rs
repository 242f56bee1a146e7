//! moto's S3 server on a loopback port, for the sync tests (`STAYTRACK_TEST_MOTO` names the
//! executable; `make test` installs it), and a signed client to poke at its buckets.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Moto {
    child: Child,
    pub url: String,
}

impl Moto {
    pub fn start() -> Moto {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let exe = std::env::var("STAYTRACK_TEST_MOTO").unwrap_or_else(|_| "moto_server".into());
        let child = Command::new(&exe)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {exe} ({e}); pip install 'moto[s3,server]'"));
        let url = format!("http://127.0.0.1:{port}");
        let t = Instant::now();
        while ureq::get(&url).call().is_err() {
            assert!(t.elapsed() < Duration::from_secs(30), "moto did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        Moto { child, url }
    }

    /// The environment a staytrack process needs to sync (and capture) to `bucket` under
    /// `prefix` here, with throwaway credentials.
    pub fn sync_env(&self, bucket: &str, prefix: &str) -> Vec<(&'static str, String)> {
        vec![
            ("STAYTRACK_SYNC_BUCKET", bucket.to_string()),
            ("STAYTRACK_SYNC_PREFIX", prefix.to_string()),
            ("STAYTRACK_SYNC_ENDPOINT", self.url.clone()),
            ("STAYTRACK_SYNC_REGION", "us-east-1".to_string()),
            ("AWS_ACCESS_KEY_ID", "test".to_string()),
            ("AWS_SECRET_ACCESS_KEY", "test".to_string()),
            ("AWS_EC2_METADATA_DISABLED", "true".to_string()),
        ]
    }

    pub fn bucket(&self, name: &str) {
        ureq::put(&format!("{}/{name}", self.url))
            .send_empty()
            .unwrap();
    }

    /// A signed client (moto refuses unsigned object requests), for poking at the bucket.
    pub fn client(&self) -> aws_sdk_s3::Client {
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        let conf = aws_sdk_s3::config::Builder::new()
            .behavior_version_latest()
            .http_client(http)
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                "test", "test", None, None, "tests",
            ))
            .endpoint_url(&self.url)
            .force_path_style(true)
            .build();
        aws_sdk_s3::Client::from_conf(conf)
    }

    pub fn block<T>(&self, f: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    }

    pub fn object(&self, bucket: &str, key: &str) -> Vec<u8> {
        let c = self.client();
        self.block(async {
            let o = c.get_object().bucket(bucket).key(key).send().await.unwrap();
            o.body.collect().await.unwrap().into_bytes().to_vec()
        })
    }

    pub fn put(&self, bucket: &str, key: &str, bytes: &[u8]) {
        let c = self.client();
        self.block(async {
            c.put_object()
                .bucket(bucket)
                .key(key)
                .body(bytes.to_vec().into())
                .send()
                .await
                .unwrap();
        })
    }

    pub fn delete(&self, bucket: &str, key: &str) {
        let c = self.client();
        self.block(async {
            c.delete_object()
                .bucket(bucket)
                .key(key)
                .send()
                .await
                .unwrap();
        })
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `staytrack sync ARGS` on `ws` against `bucket` under the prefix `team`, with throwaway
/// credentials.
pub fn sync(
    ws: &std::path::Path,
    moto: &Moto,
    bucket: &str,
    args: &[&str],
) -> std::process::Output {
    let mut all = vec!["sync"];
    all.extend_from_slice(args);
    all.extend_from_slice(&[
        "--bucket",
        bucket,
        "--prefix",
        "team",
        "--endpoint",
        &moto.url,
    ]);
    super::command(ws, "sync").args(&all).output().unwrap()
}
