//! `staytrack tracking`: the part of MLflow's tracking REST API that the MLflow Python client
//! uses, over staytrack's own store, so an unmodified training script that calls
//! `mlflow.log_param`/`log_metric`/`log_artifact` lands in `runs list` and the TUI.
//!
//! Handlers are thin: they read MLflow's JSON (`wire`), check MLflow's limits, call one store
//! method on a blocking thread and shape the answer. One file per noun: `experiments`, `runs`,
//! `logging`, `artifacts`, `registry`; `filter` parses the search grammar; `errors` is the one
//! error body. Every route outside the covered subset answers `ENDPOINT_NOT_FOUND`.

pub mod artifacts;
pub mod errors;
pub mod experiments;
pub mod filter;
pub mod logging;
pub mod registry;
pub mod runs;
pub mod wire;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::config::Config;
use crate::tracking::Store;
use errors::MlflowError;

/// How the tracking server runs.
#[derive(Debug, Clone)]
pub struct TrackingOptions {
    pub addr: SocketAddr,
    /// Bearer token for every route when set (from `STAYTRACK_TOKEN`); required beyond loopback.
    pub token: Option<String>,
    /// The largest JSON body.
    pub max_body: usize,
    /// The largest artifact file.
    pub max_artifact: u64,
    pub request_timeout: Duration,
    pub header_timeout: Duration,
    pub shutdown_timeout: Duration,
}

/// What every handler shares: two connections to the store (WAL lets reads go on beside a
/// write), the workspace's artifact folder and the limits.
pub struct Tracking {
    reader: Mutex<Store>,
    writer: Mutex<Store>,
    pub artifacts_dir: PathBuf,
    pub max_artifact: u64,
    /// For promotions an alias set here makes (`registry::set_alias`).
    pub cfg: Config,
    token: Option<String>,
    open: bool,
}

pub type Shared = Arc<Tracking>;

impl Tracking {
    pub fn new(cfg: &Config, opts: &TrackingOptions) -> anyhow::Result<Tracking> {
        let token = opts
            .token
            .clone()
            .filter(|t| t.len() >= crate::serve::MIN_TOKEN_BYTES);
        Ok(Tracking {
            reader: Mutex::new(Store::open(&cfg.db_path)?),
            writer: Mutex::new(Store::open(&cfg.db_path)?),
            artifacts_dir: cfg.artifacts_dir.clone(),
            max_artifact: opts.max_artifact,
            cfg: cfg.clone(),
            open: token.is_none() && opts.addr.ip().is_loopback(),
            token,
        })
    }
}

/// Runs `f` with the reading connection on a blocking thread.
pub async fn read<T: Send + 'static>(
    s: &Shared,
    f: impl FnOnce(&Store) -> Result<T, MlflowError> + Send + 'static,
) -> Result<T, MlflowError> {
    let s = s.clone();
    tokio::task::spawn_blocking(move || {
        let store = s.reader.lock().unwrap_or_else(|e| e.into_inner());
        f(&store)
    })
    .await
    .map_err(MlflowError::internal)?
}

/// Runs `f` with the writing connection on a blocking thread; writes take turns.
pub async fn write<T: Send + 'static>(
    s: &Shared,
    f: impl FnOnce(&mut Store) -> Result<T, MlflowError> + Send + 'static,
) -> Result<T, MlflowError> {
    let s = s.clone();
    tokio::task::spawn_blocking(move || {
        let mut store = s.writer.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut store)
    })
    .await
    .map_err(MlflowError::internal)?
}

/// Who made a change, for the registry's audit log.
pub fn actor(headers: &HeaderMap) -> String {
    if headers.contains_key(header::AUTHORIZATION) {
        "mlflow-api:token".into()
    } else {
        "mlflow-api:loopback".into()
    }
}

/// Every route needs the bearer token when one is set, and one must be set to listen beyond
/// loopback (the store holds patient data; MLflow's client sends `MLFLOW_TRACKING_TOKEN` as the
/// bearer).
async fn authorize(State(s): State<Shared>, req: Request, next: Next) -> Response {
    if s.open || req.uri().path() == "/health" {
        return next.run(req).await;
    }
    let Some(token) = &s.token else {
        return MlflowError::new(
            StatusCode::FORBIDDEN,
            "PERMISSION_DENIED",
            "this server listens beyond loopback without STAYTRACK_TOKEN (at least 32 bytes); \
             restart it with one and give the client MLFLOW_TRACKING_TOKEN",
        )
        .into_response();
    };
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if crate::serve::admin::constant_time_eq(given.as_bytes(), token.as_bytes()) {
        next.run(req).await
    } else {
        MlflowError::new(
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
            "missing or wrong bearer token (set MLFLOW_TRACKING_TOKEN to the server's STAYTRACK_TOKEN)",
        )
        .into_response()
    }
}

async fn not_covered(method: Method, uri: axum::http::Uri) -> MlflowError {
    MlflowError::endpoint(method.as_str(), &wire::clip(uri.path()))
}

/// The router: the covered routes, the artifact routes with their own size limit, and
/// `ENDPOINT_NOT_FOUND` for everything else (a known path with another method included).
pub fn router(s: Shared, max_body: usize, request_timeout: Duration) -> Router {
    const API: &str = "/api/2.0/mlflow";
    let api = Router::new()
        .route("/experiments/create", post(experiments::create))
        .route("/experiments/get", get(experiments::get))
        .route("/experiments/get-by-name", get(experiments::get_by_name))
        .route(
            "/experiments/search",
            post(experiments::search).get(experiments::search_get),
        )
        .route("/runs/create", post(runs::create))
        .route("/runs/get", get(runs::get))
        .route("/runs/update", post(runs::update))
        .route("/runs/delete", post(runs::delete))
        .route("/runs/restore", post(runs::restore))
        .route("/runs/search", post(runs::search))
        .route("/runs/log-batch", post(logging::log_batch))
        .route("/runs/log-metric", post(logging::log_metric))
        .route("/runs/log-parameter", post(logging::log_param))
        .route("/runs/set-tag", post(logging::set_tag))
        .route("/runs/delete-tag", post(logging::delete_tag))
        .route("/runs/log-inputs", post(logging::log_inputs))
        .route("/metrics/get-history", get(logging::history))
        .route("/artifacts/list", get(artifacts::list_for_run))
        // Logged models are not kept (creating one is ENDPOINT_NOT_FOUND), so a search for them
        // truly finds none; the client searches them whenever it lists a run's artifacts.
        .route(
            "/logged-models/search",
            post(|| async { axum::Json(serde_json::json!({"models": []})) }),
        )
        .route("/registered-models/create", post(registry::create_model))
        .route("/registered-models/get", get(registry::get_model))
        .route("/registered-models/search", get(registry::search_models))
        .route(
            "/registered-models/alias",
            post(registry::set_alias)
                .delete(registry::delete_alias)
                .get(registry::get_by_alias),
        )
        .route("/model-versions/create", post(registry::create_version))
        .route("/model-versions/get", get(registry::get_version))
        .route("/model-versions/search", get(registry::search_versions))
        .layer(DefaultBodyLimit::max(max_body));
    let files = Router::new()
        .route("/artifacts", get(artifacts::list))
        .route(
            "/artifacts/{*path}",
            get(artifacts::download).put(artifacts::upload),
        )
        // Uploads are streamed to a file and bounded there (`--max-artifact`).
        .layer(DefaultBodyLimit::disable());
    Router::new()
        .route("/health", get(|| async { "OK" }))
        .route("/version", get(|| async { env!("CARGO_PKG_VERSION") }))
        .nest(API, api)
        .nest("/api/2.0/mlflow-artifacts", files)
        .fallback(not_covered)
        .method_not_allowed_fallback(not_covered)
        .layer(middleware::from_fn_with_state(s.clone(), authorize))
        .layer(middleware::from_fn(move |req: Request, next: Next| {
            timed(req, next, request_timeout)
        }))
        .with_state(s)
}

/// A whole request, body included, within the deadline; otherwise 408.
async fn timed(req: Request, next: Next, limit: Duration) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(r) => r,
        Err(_) => MlflowError::new(
            StatusCode::REQUEST_TIMEOUT,
            "REQUEST_LIMIT_EXCEEDED",
            format!(
                "the request took longer than {} s (--request-timeout)",
                limit.as_secs()
            ),
        )
        .into_response(),
    }
}

/// Serves the API until SIGTERM or Ctrl-C; returns the exit code.
pub fn run(cfg: &Config, opts: TrackingOptions) -> anyhow::Result<i32> {
    if let Some(t) = &opts.token {
        anyhow::ensure!(
            t.len() >= crate::serve::MIN_TOKEN_BYTES,
            "STAYTRACK_TOKEN has {} bytes; use at least {}",
            t.len(),
            crate::serve::MIN_TOKEN_BYTES
        );
    }
    let state: Shared = Arc::new(Tracking::new(cfg, &opts)?);
    crate::util::create_private_dir(&cfg.artifacts_dir)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(opts.addr)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", opts.addr))?;
        let local = listener.local_addr()?;
        println!(
            "staytrack tracking: listening on http://{local} (MLflow tracking API; workspace {}, {})",
            cfg.workspace.display(),
            if state.open {
                "loopback, no token"
            } else {
                "bearer token required"
            }
        );
        if !state.open && state.token.is_none() {
            eprintln!(
                "staytrack tracking: listening beyond loopback without STAYTRACK_TOKEN: every \
                 request is refused until the server is restarted with one"
            );
        }
        let app = router(state.clone(), opts.max_body, opts.request_timeout);
        let limits = crate::serve::conn::ConnLimits {
            header_timeout: opts.header_timeout,
            shutdown_timeout: opts.shutdown_timeout,
        };
        crate::serve::conn::serve(listener, app, limits, shutdown_signal()).await;
        anyhow::Ok(())
    })?;
    Ok(0)
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(t) => t,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
