//! The server's life: start, the router, per-request accounting and limits, liveness and
//! readiness, metrics, and shutdown.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::config::Config;
use input::ApiError;
use metrics::Metrics;
use model::ModelSlot;

use super::*;
use super::{admin::*, budget, scoring::*, v2::*};

/// Runs the server until SIGTERM or Ctrl-C; returns the exit code.
///
/// Start-up, the listener and shutdown in the order they happen.
pub fn run(cfg: &Config, opts: ServeOptions) -> anyhow::Result<i32> {
    anyhow::ensure!(
        crate::tracking::registry::valid_alias(&opts.alias),
        "--alias '{}': use lowercase letters, digits, '-' or '_'",
        opts.alias
    );
    let metrics = Arc::new(Metrics::new(opts.request_timeout));
    let slot = ModelSlot::new(
        &opts.alias,
        &cfg.db_path,
        &cfg.artifacts_dir,
        metrics.clone(),
    )?
    .with_pinned(opts.max_versions);
    let outbox = (opts.log && opts.capture.is_some())
        .then(|| Arc::new(crate::capture::ship::ShipStats::default()));
    if let Some(o) = &outbox {
        let _ = metrics.capture.set(o.clone());
    }
    let log = if opts.log {
        Some(log::PredictionLog::start(
            cfg.db_path.clone(),
            log::LogLimits {
                rows: opts.log_queue,
                bytes: opts.log_queue_bytes,
                retention: opts.log_retention,
                wait: opts.log_wait,
                full: opts.log_full,
                max_pending: outbox.as_ref().map(|_| opts.capture_max_pending),
            },
            metrics.clone(),
            outbox.clone(),
        )?)
    } else {
        None
    };
    let shipper = match (&outbox, &opts.capture) {
        (Some(stats), Some(c)) => Some(crate::capture::ship::Shipper::start(
            cfg.db_path.clone(),
            c.clone(),
            stats.clone(),
        )?),
        _ => None,
    };
    // A failed first load is reported and retried by the poller, like any later one.
    let _ = slot.refresh();
    let short_token = opts
        .token
        .as_ref()
        .is_some_and(|t| !t.is_empty() && t.len() < MIN_TOKEN_BYTES);
    let state = Arc::new(AppState::new(cfg, slot, log, metrics, &opts));
    let workers = match opts.workers {
        0 => std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2),
        n => n,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()?;
    let stop = Arc::new(AtomicBool::new(false));
    let poller = {
        let (state, stop, poll) = (state.clone(), stop.clone(), opts.poll);
        std::thread::Builder::new()
            .name("alias-poller".into())
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(poll);
                    let _ = state.slot.refresh();
                }
            })?
    };
    let served = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(opts.addr)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", opts.addr))?;
        let local = listener.local_addr()?;
        println!(
            "staytrack serve: listening on http://{local} (workspace {}, alias '{}', replica {}, capture {}, {})",
            cfg.workspace.display(),
            opts.alias,
            opts.replica,
            match &opts.capture {
                Some(c) if opts.log => format!(
                    "to s3://{}/{} every {} s",
                    c.sync.bucket.as_deref().unwrap_or_default(),
                    c.sync.prefix,
                    c.interval.as_secs()
                ),
                _ => "off".to_string(),
            },
            match state.slot.version() {
                Some(v) => format!("version {v}"),
                None => "no model yet".into(),
            }
        );
        if short_token {
            println!(
                "staytrack serve: admin routes disabled: STAYTRACK_TOKEN is shorter than {MIN_TOKEN_BYTES} bytes (make one with `openssl rand -hex 32`)"
            );
        } else if state.token.is_none() {
            println!("staytrack serve: admin routes disabled (set STAYTRACK_TOKEN to enable)");
        }
        use std::io::Write;
        let _ = std::io::stdout().flush();
        let drained = conn::serve(listener, router(state.clone()), opts.conn, shutdown_signal()).await;
        if drained.cut > 0 {
            eprintln!(
                "staytrack serve: closed {} connection(s) still open after {} s",
                drained.cut,
                opts.conn.shutdown_timeout.as_secs()
            );
        }
        anyhow::Ok(())
    });
    // Scoring off the async workers must not hold the exit past the deadline either.
    rt.shutdown_timeout(Duration::from_secs(1));
    stop.store(true, Ordering::Relaxed);
    // Writing the rest of the log and shipping it share one more `--shutdown-timeout`, so a
    // stop takes at most twice it (the requests in flight, then this).
    let until = Instant::now() + opts.conn.shutdown_timeout.max(Duration::from_secs(2));
    if let Some(log) = &state.log {
        log.close(until.saturating_duration_since(Instant::now()));
    }
    // Everything answered is in the store now: seal it and ship it within what is left.
    if let Some(sh) = &shipper {
        sh.close(
            until
                .saturating_duration_since(Instant::now())
                .max(Duration::from_secs(1)),
        );
    }
    let _ = poller.join();
    served?;
    let m = &state.metrics;
    println!(
        "staytrack serve: stopped; {} predictions, {} logged, {} not logged, {} refused (503) for want of room in the log",
        m.predictions[0].load(Ordering::Relaxed) + m.predictions[1].load(Ordering::Relaxed),
        m.log_written.load(Ordering::Relaxed),
        m.log_dropped.load(Ordering::Relaxed),
        m.log_refused.load(Ordering::Relaxed)
    );
    Ok(0)
}

pub(super) async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let term = async {
        match signal(SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
    eprintln!("staytrack serve: stopping; finishing requests in flight");
}

/// Every route. Public so tests and benchmarks can mount it on their own listener.
pub fn router(state: Arc<AppState>) -> Router {
    let max_body = state.max_body;
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(prometheus))
        .route("/ping", get(ping))
        .route("/version", get(version))
        .route("/v1/models", get(models))
        .route("/v1/models/promote", post(admin_promote))
        .route("/v1/feedback", post(admin_feedback))
        .route("/v1/reload", post(admin_reload))
        .route("/predict", post(predict))
        .route("/predict_outcome", post(predict_outcome))
        .route("/invocations", post(invocations))
        .route("/v2", get(v2_server))
        .route("/v2/health/live", get(health))
        .route("/v2/health/ready", get(ready))
        .route("/v2/models/{name}", get(v2_metadata))
        .route("/v2/models/{name}/ready", get(v2_model_ready))
        .route("/v2/models/{name}/infer", post(v2_infer))
        .route(
            "/v2/models/{name}/versions/{version}",
            get(v2_version_metadata),
        )
        .route(
            "/v2/models/{name}/versions/{version}/ready",
            get(v2_version_ready),
        )
        .route(
            "/v2/models/{name}/versions/{version}/infer",
            post(v2_version_infer),
        )
        .route_layer(middleware::from_fn_with_state(state.clone(), track))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(middleware::from_fn(stamp))
        .with_state(state)
}

/// When a request arrived, so routes that no route layer wraps (404, 405) are timed too.
#[derive(Clone, Copy)]
pub(super) struct Arrived(Instant);

pub(super) async fn stamp(mut req: Request, next: Next) -> Response {
    req.extensions_mut().insert(Arrived(Instant::now()));
    next.run(req).await
}

/// Time since the request arrived (zero when it was not stamped).
fn since_arrival(req: &Request) -> Duration {
    req.extensions()
        .get::<Arrived>()
        .map_or(Duration::ZERO, |a| a.0.elapsed())
}

/// Counts each request by its route pattern and status, and times it.
pub(super) async fn track(State(s): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let t = req
        .extensions()
        .get::<Arrived>()
        .map_or_else(Instant::now, |a| a.0);
    // A cheap clone (the pattern is shared), not a new string per request.
    let route = req.extensions().get::<MatchedPath>().cloned();
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let has_body =
        declared.is_some_and(|n| n > 0) || req.headers().contains_key(header::TRANSFER_ENCODING);
    let resp = if declared.is_some_and(|n| n > s.max_body as u64) {
        // Refused from the header alone, before waiting for a body that will not be read.
        too_large().into_response()
    } else {
        // The body takes memory from the budget as its bytes arrive; what it took is held
        // until the answer is made.
        let ledger = has_body.then(|| {
            let peer = req
                .extensions()
                .get::<ConnectInfo<std::net::SocketAddr>>()
                .map(|c| c.0.ip());
            budget::Ledger::new(s.budget.clone(), peer)
        });
        let req = match &ledger {
            Some(l) => {
                let (parts, body) = req.into_parts();
                Request::from_parts(parts, budget::Metered::wrap(body, l.clone()))
            }
            None => req,
        };
        let resp = match tokio::time::timeout(s.request_timeout, next.run(req)).await {
            Ok(r) => r,
            Err(_) => ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "the request was not complete after {} s",
                    s.request_timeout.as_secs()
                ),
            )
            .into_response(),
        };
        match ledger.as_ref().and_then(|l| Some(l.refusal(l.refused()?))) {
            Some(e) => e.into_response(),
            None => resp,
        }
    };
    s.metrics.observe(
        route.as_ref().map_or("unmatched", |m| m.as_str()),
        resp.status().as_u16(),
        t.elapsed(),
    );
    resp
}

pub(super) async fn not_found(State(s): State<Arc<AppState>>, req: Request) -> ApiError {
    s.metrics.observe("unmatched", 404, since_arrival(&req));
    ApiError::not_found(format!("no route {} {}", req.method(), req.uri().path()))
}

pub(super) async fn method_not_allowed(State(s): State<Arc<AppState>>, req: Request) -> ApiError {
    s.metrics.observe(
        req.extensions()
            .get::<MatchedPath>()
            .map_or("unmatched", |m| m.as_str()),
        405,
        since_arrival(&req),
    );
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{} is not allowed on {}", req.method(), req.uri().path()),
    )
}

pub(super) async fn health() -> Json<Value> {
    Json(json!({ "status": "ok", "live": true }))
}

pub(super) async fn ready(State(s): State<Arc<AppState>>) -> Response {
    match s.slot.current() {
        Some(m) => Json(json!({
            "ready": true, "alias": s.slot.alias, "model_version": m.version, "run_id": m.run_id,
        }))
        .into_response(),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({
                "ready": false,
                "error": s.slot.last_error().unwrap_or_else(|| no_model(&s).message),
            })),
        )
            .into_response(),
    }
}

/// MLflow's `GET /ping`: 200 and a newline once a model is served, which is what
/// `ScoringServerClient.wait_server_ready` waits for. Before that, 503 like `/ready` (MLflow
/// answers 404, which a load balancer would read as "no such route").
pub(super) async fn ping(State(s): State<Arc<AppState>>) -> Response {
    match s.slot.current() {
        Some(_) => ([(header::CONTENT_TYPE, "application/json")], "\n").into_response(),
        None => no_model(&s).into_response(),
    }
}

/// MLflow's `GET /version`: the server's version as bare text.
pub(super) async fn version() -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        env!("CARGO_PKG_VERSION"),
    )
        .into_response()
}

pub(super) async fn prometheus(State(s): State<Arc<AppState>>) -> Response {
    let queued = s.log.as_ref().map_or(0, |l| l.queued());
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        s.metrics.render(&s.slot.alias, s.slot.version(), queued),
    )
        .into_response()
}
