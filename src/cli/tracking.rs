//! `staytrack tracking`: the MLflow tracking API over this workspace's store, so training
//! scripts that use the MLflow client log here with `MLFLOW_TRACKING_URI=http://127.0.0.1:5000`.

use std::time::Duration;

use clap::Args;

use crate::config::Config;
use crate::mlflow::TrackingOptions;

#[derive(Debug, Args, Clone)]
pub struct TrackingArgs {
    /// Address to listen on; beyond loopback every request needs STAYTRACK_TOKEN as a bearer
    /// (the MLflow client sends MLFLOW_TRACKING_TOKEN)
    #[arg(
        long,
        env = "STAYTRACK_TRACKING_ADDR",
        default_value = "127.0.0.1:5000"
    )]
    pub addr: std::net::SocketAddr,
    /// Largest JSON request body, in bytes (larger ones get 413)
    #[arg(long, default_value_t = 16 * 1024 * 1024, value_name = "BYTES")]
    pub max_body: usize,
    /// Largest artifact file, in bytes (larger uploads get 413)
    #[arg(long, default_value_t = 1024 * 1024 * 1024, value_name = "BYTES")]
    pub max_artifact: u64,
    /// Seconds a client has to send a request's headers
    #[arg(long, default_value_t = 10, value_name = "SECONDS")]
    pub header_timeout: u64,
    /// Seconds a whole request (an artifact upload included) may take before it is answered 408
    #[arg(long, default_value_t = 300, value_name = "SECONDS")]
    pub request_timeout: u64,
    /// Seconds a shutdown waits for requests in flight
    #[arg(long, default_value_t = 10, value_name = "SECONDS")]
    pub shutdown_timeout: u64,
}

pub fn run(cfg: &Config, args: TrackingArgs) -> anyhow::Result<i32> {
    crate::mlflow::run(
        cfg,
        TrackingOptions {
            addr: args.addr,
            // From the environment only, so it never shows in `ps`.
            token: std::env::var("STAYTRACK_TOKEN")
                .ok()
                .filter(|t| !t.is_empty()),
            max_body: args.max_body,
            max_artifact: args.max_artifact,
            request_timeout: Duration::from_secs(args.request_timeout.max(1)),
            header_timeout: Duration::from_secs(args.header_timeout.max(1)),
            shutdown_timeout: Duration::from_secs(args.shutdown_timeout),
        },
    )
}
