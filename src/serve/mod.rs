//! `staytrack serve`: the headless prediction server.
//!
//! One process replaces the seed's Flask app, its per-request MLflow lookup and its Postgres
//! logging: the model behind an alias is loaded once and swapped when the alias moves, requests
//! are scored in memory, and predictions reach SQLite through a bounded background queue.
//! Handlers stay thin: they parse a format (`input`), score (`score`), and shape an answer.

pub mod admin;
pub mod budget;
pub mod conn;
pub mod error;
pub mod input;
pub mod limits;
pub mod log;
pub mod metrics;
pub mod model;
pub mod oip;
pub mod scoring;
pub mod server;
pub mod v2;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use metrics::Metrics;
use model::ModelSlot;

pub use server::{router, run};

/// The name the v2 protocol serves the model under (the alias is accepted too).
pub const MODEL_NAME: &str = "staytrack";
pub use crate::score::THRESHOLD;
/// Requests of up to this many rows are scored on the thread that received them; larger ones
/// off the async workers, where the pool shares them out.
const INLINE_ROWS: usize = crate::util::POOL_FROM_ROWS;
/// Requests asking for explanations whose work (`Explainer::work_per_row` × rows) is at most
/// this are answered on the thread that received them, about 1.5 ms of a core: one row of the
/// default gbdt (0.36 M steps); a forest's row (90 M) always goes off the async workers.
const EXPLAIN_INLINE_WORK: u64 = 1_000_000;
/// The shortest admin token accepted; a shorter one leaves the admin routes off.
pub const MIN_TOKEN_BYTES: usize = 32;

#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub addr: SocketAddr,
    pub alias: String,
    /// Bearer token for the admin routes; None disables them.
    pub token: Option<String>,
    pub max_body: usize,
    /// Rows one request may hold.
    pub max_rows: usize,
    /// A request (body included) that takes longer than this is answered 408.
    pub request_timeout: Duration,
    /// Request bodies being read or scored at once, in bytes; a request that would exceed it
    /// waits, then gets 503.
    pub max_inflight: usize,
    pub log_queue: usize,
    /// The prediction-log queue's bound in bytes, beside its bound in rows.
    pub log_queue_bytes: usize,
    /// Logged predictions older than this are deleted; None keeps them.
    pub log_retention: Option<Duration>,
    /// Registry versions kept loaded for the versioned routes besides the alias's.
    pub max_versions: usize,
    /// Whether to log predictions at all.
    pub log: bool,
    /// How long an answer waits for room in the log, and what happens when there is none.
    pub log_wait: Duration,
    pub log_full: log::WhenFull,
    /// This server's name in capture keys and logged rows.
    pub replica: String,
    /// Shipping the log to the bucket; `None` keeps it local.
    pub capture: Option<crate::capture::ship::ShipOptions>,
    /// The most rows and input bytes not yet in the bucket before answers wait.
    pub capture_max_pending: (u64, u64),
    pub poll: Duration,
    /// Async worker threads; 0 means one per core.
    pub workers: usize,
    pub conn: conn::ConnLimits,
}

pub struct AppState {
    pub slot: ModelSlot,
    /// The workspace: the admin route's promotions read its `[promote]` policy and artifacts.
    pub cfg: crate::config::Config,
    pub log: Option<log::PredictionLog>,
    pub metrics: Arc<Metrics>,
    /// This server's name in logged rows and capture keys.
    pub replica: String,
    /// The model's name in capture keys.
    pub model_name: String,
    token: Option<String>,
    max_body: usize,
    max_rows: usize,
    request_timeout: Duration,
    /// Memory for request bodies, taken as their bytes arrive.
    budget: Arc<budget::BodyBudget>,
}

impl AppState {
    pub fn new(
        cfg: &crate::config::Config,
        slot: ModelSlot,
        log: Option<log::PredictionLog>,
        metrics: Arc<Metrics>,
        opts: &ServeOptions,
    ) -> AppState {
        AppState {
            cfg: cfg.clone(),
            slot,
            log,
            metrics,
            replica: opts.replica.clone(),
            model_name: opts
                .capture
                .as_ref()
                .map(|c| c.layout.model.clone())
                .unwrap_or_else(|| crate::serve::MODEL_NAME.to_string()),
            token: opts.token.clone().filter(|t| t.len() >= MIN_TOKEN_BYTES),
            max_body: opts.max_body,
            max_rows: opts.max_rows.max(1),
            request_timeout: opts.request_timeout,
            // A body waits a third of the request's time for room, so a refusal leaves time to
            // retry.
            budget: Arc::new(budget::BodyBudget::new(
                opts.max_inflight,
                opts.max_body,
                opts.request_timeout / 3,
            )),
        }
    }
}
