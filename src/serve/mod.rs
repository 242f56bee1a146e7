//! `staytrack serve`: the headless prediction server.
//!
//! One process replaces the seed's Flask app, its per-request MLflow lookup and its Postgres
//! logging: the model behind an alias is loaded once and swapped when the alias moves, requests
//! are scored in memory, and predictions reach SQLite through a bounded background queue.
//! Handlers stay thin: they parse a format (`input`), score (`score`), and shape an answer.

pub mod conn;
pub mod input;
pub mod log;
pub mod metrics;
pub mod model;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, MatchedPath, Path, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::config::Config;
use crate::data::{Frame, RecordError, Role};
use crate::tracking::{PredictionRow, RegistryError, StoreError};
use input::{ApiError, Record};
use metrics::Metrics;
use model::{Loaded, ModelSlot};

/// The name the v2 protocol serves the model under (the alias is accepted too).
pub const MODEL_NAME: &str = "staytrack";
/// Probability at or above which the class is 1.
pub const THRESHOLD: f64 = 0.5;
/// Batches larger than this are scored off the async workers.
const INLINE_ROWS: usize = 64;
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
    /// Whether to log predictions at all.
    pub log: bool,
    pub poll: Duration,
    /// Async worker threads; 0 means one per core.
    pub workers: usize,
    pub conn: conn::ConnLimits,
}

pub struct AppState {
    pub slot: ModelSlot,
    pub log: Option<log::PredictionLog>,
    pub metrics: Arc<Metrics>,
    token: Option<String>,
    max_body: usize,
    max_rows: usize,
    request_timeout: Duration,
    /// Body bytes in flight, in KiB permits.
    inflight: Arc<tokio::sync::Semaphore>,
    inflight_kib: u32,
}

/// Runs the server until SIGTERM or Ctrl-C; returns the exit code.
pub fn run(cfg: &Config, opts: ServeOptions) -> anyhow::Result<i32> {
    anyhow::ensure!(
        crate::tracking::registry::valid_alias(&opts.alias),
        "--alias '{}': use lowercase letters, digits, '-' or '_'",
        opts.alias
    );
    let metrics = Arc::new(Metrics::default());
    let slot = ModelSlot::new(
        &opts.alias,
        &cfg.db_path,
        &cfg.artifacts_dir,
        metrics.clone(),
    )?;
    let log = if opts.log {
        Some(log::PredictionLog::start(
            cfg.db_path.clone(),
            log::LogLimits {
                rows: opts.log_queue,
                bytes: opts.log_queue_bytes,
                retention: opts.log_retention,
            },
            metrics.clone(),
        )?)
    } else {
        None
    };
    // A failed first load is reported and retried by the poller, like any later one.
    let _ = slot.refresh();
    let short_token = opts
        .token
        .as_ref()
        .is_some_and(|t| !t.is_empty() && t.len() < MIN_TOKEN_BYTES);
    let state = Arc::new(AppState::new(slot, log, metrics, &opts));
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
            "staytrack serve: listening on http://{local} (workspace {}, alias '{}', {})",
            cfg.workspace.display(),
            opts.alias,
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
    if let Some(log) = &state.log {
        log.close();
    }
    let _ = poller.join();
    served?;
    let m = &state.metrics;
    println!(
        "staytrack serve: stopped; {} predictions, {} logged, {} not logged",
        m.predictions[0].load(Ordering::Relaxed) + m.predictions[1].load(Ordering::Relaxed),
        m.log_written.load(Ordering::Relaxed),
        m.log_dropped.load(Ordering::Relaxed)
    );
    Ok(0)
}

async fn shutdown_signal() {
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

impl AppState {
    pub fn new(
        slot: ModelSlot,
        log: Option<log::PredictionLog>,
        metrics: Arc<Metrics>,
        opts: &ServeOptions,
    ) -> AppState {
        // Never less than one largest body, so every allowed request can run.
        let kib = (opts.max_inflight.max(opts.max_body) / 1024).clamp(1, u32::MAX as usize / 2);
        AppState {
            slot,
            log,
            metrics,
            token: opts.token.clone().filter(|t| t.len() >= MIN_TOKEN_BYTES),
            max_body: opts.max_body,
            max_rows: opts.max_rows.max(1),
            request_timeout: opts.request_timeout,
            inflight: Arc::new(tokio::sync::Semaphore::new(kib)),
            inflight_kib: kib as u32,
        }
    }
}

/// Every route. Public so tests and benchmarks can mount it on their own listener.
pub fn router(state: Arc<AppState>) -> Router {
    let max_body = state.max_body;
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(prometheus))
        .route("/v1/models", get(models))
        .route("/v1/models/promote", post(admin_promote))
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
        .route_layer(middleware::from_fn_with_state(state.clone(), track))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(state)
}

/// Counts each request by its route pattern and status, and times it.
async fn track(State(s): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let t = Instant::now();
    // A cheap clone (the pattern is shared), not a new string per request.
    let route = req.extensions().get::<MatchedPath>().cloned();
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    // What the body may cost while it is read and parsed: its declared length, or the largest
    // allowed when it is sent in chunks.
    let has_body =
        declared.is_some_and(|n| n > 0) || req.headers().contains_key(header::TRANSFER_ENCODING);
    let weight = if has_body {
        (declared.unwrap_or(s.max_body as u64).min(s.max_body as u64) / 1024 + 1)
            .min(s.inflight_kib as u64) as u32
    } else {
        0
    };
    let resp = if declared.is_some_and(|n| n > s.max_body as u64) {
        // Refused from the header alone, before waiting for a body that will not be read.
        too_large().into_response()
    } else {
        let permit = if weight > 0 {
            match tokio::time::timeout(
                s.request_timeout / 3,
                s.inflight.clone().acquire_many_owned(weight),
            )
            .await
            {
                Ok(Ok(p)) => Some(p),
                _ => {
                    let resp = ApiError::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        format!(
                            "the server is busy: {} MiB of request bodies are being read or scored (--max-inflight); try again",
                            s.inflight_kib / 1024
                        ),
                    )
                    .into_response();
                    s.metrics.observe(
                        route.as_ref().map_or("unmatched", |m| m.as_str()),
                        503,
                        t.elapsed(),
                    );
                    return resp;
                }
            }
        } else {
            None
        };
        let _permit = permit;
        match tokio::time::timeout(s.request_timeout, next.run(req)).await {
            Ok(r) => r,
            Err(_) => ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "the request was not complete after {} s",
                    s.request_timeout.as_secs()
                ),
            )
            .into_response(),
        }
    };
    s.metrics.observe(
        route.as_ref().map_or("unmatched", |m| m.as_str()),
        resp.status().as_u16(),
        t.elapsed(),
    );
    resp
}

async fn not_found(State(s): State<Arc<AppState>>, req: Request) -> ApiError {
    s.metrics.observe("unmatched", 404, Duration::ZERO);
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!("no route {} {}", req.method(), req.uri().path()),
    )
}

async fn method_not_allowed(State(s): State<Arc<AppState>>, req: Request) -> ApiError {
    s.metrics.observe(
        req.extensions()
            .get::<MatchedPath>()
            .map_or("unmatched", |m| m.as_str()),
        405,
        Duration::ZERO,
    );
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{} is not allowed on {}", req.method(), req.uri().path()),
    )
}

async fn health() -> Json<Value> {
    Json(json!({ "status": "ok", "live": true }))
}

async fn ready(State(s): State<Arc<AppState>>) -> Response {
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

async fn prometheus(State(s): State<Arc<AppState>>) -> Response {
    let queued = s.log.as_ref().map_or(0, |l| l.queued());
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        s.metrics.render(&s.slot.alias, s.slot.version(), queued),
    )
        .into_response()
}

fn no_model(s: &AppState) -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        format!(
            "no model is promoted to '{}' yet; run `staytrack promote RUN --alias {}`",
            s.slot.alias, s.slot.alias
        ),
    )
}

/// The body bytes, or the JSON error for a body that could not be read (413 over the limit).
fn body_bytes(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|r| {
        let status = r.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            too_large()
        } else {
            ApiError::new(
                status,
                format!("cannot read the request body: {}", r.body_text()),
            )
        }
    })
}

fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "request body is larger than the server's limit (--max-body)",
    )
}

/// Probabilities and classes for records, from one model.
struct Scored {
    model: Arc<Loaded>,
    probs: Vec<f64>,
    classes: Vec<i64>,
    case_ids: Vec<Option<i64>>,
}

/// The served model, or 503 while there is none.
fn serving(s: &AppState) -> Result<Arc<Loaded>, ApiError> {
    s.slot.current().ok_or_else(|| no_model(s))
}

/// What a request is checked against: the model's columns and the row limit.
fn expect<'a>(s: &AppState, model: &'a Loaded) -> input::Expect<'a> {
    input::Expect::new(&model.bundle.spec, s.max_rows)
}

/// Scores records with `model`, the one their columns were checked against.
async fn score(
    s: &Arc<AppState>,
    model: Arc<Loaded>,
    records: Vec<Record>,
    source: &'static str,
) -> Result<Scored, ApiError> {
    if records.len() <= INLINE_ROWS {
        return score_now(s, model, records, source);
    }
    let s = s.clone();
    tokio::task::spawn_blocking(move || score_now(&s, model, records, source))
        .await
        .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "scoring failed"))?
}

fn score_now(
    s: &AppState,
    model: Arc<Loaded>,
    records: Vec<Record>,
    source: &'static str,
) -> Result<Scored, ApiError> {
    let spec = &model.bundle.spec;
    let frame = Frame::from_records(spec, &records).map_err(record_error)?;
    let probs = model.bundle.predict(&frame).map_err(|e| {
        let mut err = ApiError::unprocessable(e.to_string());
        if let crate::features::FeatureError::Record(r) = &e {
            err.fields = r.fields();
        }
        err
    })?;
    // No probability that is not a number ever leaves the server or reaches the log.
    if let Some(i) = probs.iter().position(|p| !p.is_finite()) {
        return Err(ApiError::unprocessable(format!(
            "record {i}: the model gives no probability for these values; check its numbers are within a sane range"
        )));
    }
    let classes: Vec<i64> = probs.iter().map(|p| (*p >= THRESHOLD) as i64).collect();
    let id_col = spec
        .columns
        .iter()
        .find(|c| c.role == Role::Id)
        .map(|c| c.name.as_str());
    let case_ids: Vec<Option<i64>> = records
        .iter()
        .map(|r| {
            let v = r.get(id_col?)?;
            v.as_i64()
                .or_else(|| v.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
                .or_else(|| v.as_str()?.trim().parse().ok())
        })
        .collect();
    s.metrics.count_classes(classes.iter().copied());
    if let Some(log) = &s.log {
        let at = crate::util::now_ms();
        // The record as parsed (its names checked against the model, its values bounded), not
        // the request's bytes, which may carry anything around it.
        let rows = records
            .iter()
            .zip(&probs)
            .zip(&classes)
            .zip(&case_ids)
            .map(|(((r, p), c), id)| PredictionRow {
                at,
                model_version: Some(model.version),
                case_id: *id,
                inputs: serde_json::to_string(r).unwrap_or_default(),
                probability: *p,
                class: *c,
                source: source.to_string(),
            })
            .collect();
        log.record(rows);
    }
    Ok(Scored {
        model,
        probs,
        classes,
        case_ids,
    })
}

fn record_error(e: RecordError) -> ApiError {
    let mut err = ApiError::unprocessable(e.to_string());
    err.fields = e.fields();
    err
}

/// One answer of `/predict`.
#[derive(serde::Serialize)]
struct Prediction {
    case_id: Option<i64>,
    class: i64,
    probability: f64,
    model_version: i64,
}

/// `POST /predict`: one record ⇒ one answer; a list ⇒ a list of answers.
async fn predict(
    State(s): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body_bytes(body)?;
    let model = serving(&s)?;
    let want = expect(&s, &model);
    input::precheck_json(&body, &want)?;
    let (records, single) = input::plain_records(input::parse_json(&body)?, &want)?;
    let r = score(&s, model, records, "/predict").await?;
    let one = |i: usize| Prediction {
        case_id: r.case_ids[i],
        class: r.classes[i],
        probability: r.probs[i],
        model_version: r.model.version,
    };
    if single {
        return Ok(Json(one(0)).into_response());
    }
    Ok(Json(json!({
        "model_version": r.model.version,
        "alias": s.slot.alias,
        "threshold": THRESHOLD,
        "predictions": (0..r.probs.len()).map(one).collect::<Vec<_>>(),
    }))
    .into_response())
}

/// `POST /predict_outcome`: the seed's request (one raw row, pandas `to_dict`) and answer shape.
async fn predict_outcome(
    State(s): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body_bytes(body)?;
    let model = serving(&s)?;
    let want = expect(&s, &model);
    input::precheck_json(&body, &want)?;
    let (records, _) = input::plain_records(input::parse_json(&body)?, &want)?;
    let r = score(&s, model, records, "/predict_outcome").await?;
    Ok(Json(json!({
        "Class": r.classes,
        "probability": r.probs.iter().map(|p| [1.0 - p, *p]).collect::<Vec<_>>(),
    }))
    .into_response())
}

/// `POST /invocations`: MLflow's scoring protocol.
async fn invocations(
    State(s): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let ctype = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let body = body_bytes(body)?;
    let model = serving(&s)?;
    let want = expect(&s, &model);
    let req = match ctype.as_str() {
        "application/json" => {
            input::precheck_json(&body, &want)?;
            input::mlflow_json(input::parse_json(&body)?, &want)?
        }
        "text/csv" => input::MlflowRequest {
            records: input::csv_records(&body, &want)?,
            proba: false,
        },
        other => {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!(
                    "content type '{}' is not supported; use application/json or text/csv",
                    if other.is_empty() { "(none)" } else { other }
                ),
            ))
        }
    };
    let r = score(&s, model, req.records, "/invocations").await?;
    let predictions: Value = if req.proba {
        r.probs.iter().map(|p| json!([1.0 - p, p])).collect()
    } else {
        r.classes.iter().map(|c| json!(c)).collect()
    };
    Ok(Json(json!({ "predictions": predictions })).into_response())
}

/// The v2 model name: `staytrack` or the served alias.
fn v2_model(s: &AppState, name: &str) -> Result<(), ApiError> {
    if name == MODEL_NAME || name == s.slot.alias {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!(
                "no model named '{name}'; this server serves '{MODEL_NAME}' (alias '{}')",
                s.slot.alias
            ),
        ))
    }
}

async fn v2_server() -> Json<Value> {
    Json(json!({
        "name": MODEL_NAME,
        "version": env!("CARGO_PKG_VERSION"),
        "extensions": [],
    }))
}

async fn v2_metadata(
    State(s): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    v2_model(&s, &name)?;
    let m = s.slot.current().ok_or_else(|| no_model(&s))?;
    let inputs: Vec<Value> = m
        .bundle
        .spec
        .columns
        .iter()
        .filter(|c| c.role != Role::Target)
        .map(|c| {
            let datatype = match c.value {
                crate::data::spec::ValueType::Int => "INT64",
                crate::data::spec::ValueType::Float => "FP64",
                crate::data::spec::ValueType::Text => "BYTES",
            };
            json!({ "name": c.name, "datatype": datatype, "shape": [-1] })
        })
        .collect();
    Ok(Json(json!({
        "name": name,
        "versions": [m.version.to_string()],
        "platform": format!("staytrack-{}", m.bundle.params.family.name()),
        "inputs": inputs,
        "outputs": [
            { "name": "probability", "datatype": "FP64", "shape": [-1] },
            { "name": "class", "datatype": "INT64", "shape": [-1] },
        ],
    }))
    .into_response())
}

async fn v2_model_ready(
    State(s): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    v2_model(&s, &name)?;
    Ok(ready(State(s)).await)
}

async fn v2_infer(
    State(s): State<Arc<AppState>>,
    Path(name): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    v2_model(&s, &name)?;
    let body = body_bytes(body)?;
    let model = serving(&s)?;
    let want = expect(&s, &model);
    input::precheck_json(&body, &want)?;
    let (records, id) = input::v2_records(input::parse_json(&body)?, &want)?;
    let r = score(&s, model, records, "/v2/infer").await?;
    let n = r.probs.len();
    let mut out = json!({
        "model_name": name,
        "model_version": r.model.version.to_string(),
        "outputs": [
            { "name": "probability", "datatype": "FP64", "shape": [n], "data": r.probs },
            { "name": "class", "datatype": "INT64", "shape": [n], "data": r.classes },
        ],
    });
    if let Some(id) = id {
        out["id"] = id;
    }
    Ok(Json(out).into_response())
}

/// `GET /v1/models`: what is served, every version, every alias and the recent audit log.
async fn models(State(s): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let s2 = s.clone();
    let (versions, aliases, events) = tokio::task::spawn_blocking(move || {
        s2.slot.with_store(|st| {
            Ok::<_, StoreError>((
                st.model_versions()?,
                st.aliases()?,
                st.alias_events(None, 50)?,
            ))
        })
    })
    .await
    .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "registry read failed"))?
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let serving = s.slot.current().map(|m| {
        json!({
            "alias": s.slot.alias, "version": m.version, "run_id": m.run_id,
            "run_name": m.bundle.run_name, "family": m.bundle.params.family.name(),
            "sha256": m.sha256, "loaded_at": m.loaded_at,
            "validation_roc_auc": m.bundle.metrics.roc_auc,
        })
    });
    Ok(Json(json!({
        "serving": serving,
        "versions": versions,
        "aliases": aliases,
        "events": events,
    }))
    .into_response())
}

/// Admin routes need `Authorization: Bearer <STAYTRACK_TOKEN>`; with no token they are off.
fn authorize(s: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(token) = &s.token else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "admin routes are disabled: start the server with STAYTRACK_TOKEN set to a secret of at least 32 bytes",
        ));
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if constant_time_eq(given.as_bytes(), token.as_bytes()) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "missing or wrong bearer token (Authorization: Bearer <STAYTRACK_TOKEN>)",
        ))
    }
}

/// Compares without an early exit, so timing does not reveal how much of a guess was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = (a.len() ^ b.len()) as u8;
    for (i, x) in a.iter().enumerate() {
        diff |= x ^ b.get(i % b.len().max(1)).copied().unwrap_or(0);
    }
    diff == 0 && a.len() == b.len()
}

/// `POST /v1/models/promote` `{"run_id" | "version", "alias"?, "reason"?}`.
async fn admin_promote(
    State(s): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    authorize(&s, &headers)?;
    let body = body_bytes(body)?;
    let v = input::parse_json(&body)?;
    let field = |k: &str| v.get(k).filter(|x| !x.is_null());
    let alias = match field("alias") {
        None => s.slot.alias.clone(),
        Some(Value::String(a)) => a.clone(),
        Some(_) => return Err(ApiError::unprocessable("field 'alias' must be a string")),
    };
    let reason = match field("reason") {
        None => None,
        Some(Value::String(r)) => Some(r.clone()),
        Some(_) => return Err(ApiError::unprocessable("field 'reason' must be a string")),
    };
    enum Target {
        Run(String),
        Version(i64),
    }
    let target = match (field("run_id"), field("version")) {
        (Some(Value::String(r)), None) => Target::Run(r.clone()),
        (None, Some(n)) => Target::Version(
            n.as_i64()
                .ok_or_else(|| ApiError::unprocessable("field 'version' must be an integer"))?,
        ),
        (Some(_), None) => return Err(ApiError::unprocessable("field 'run_id' must be a string")),
        _ => {
            return Err(ApiError::unprocessable(
                "give exactly one of 'run_id' and 'version'",
            ))
        }
    };
    let s2 = s.clone();
    let mv = tokio::task::spawn_blocking(move || {
        s2.slot.with_store(|st| match target {
            Target::Run(r) => st.promote_run(&r, &alias, "api", reason.as_deref()),
            Target::Version(v) => st.set_alias(&alias, v, "api", reason.as_deref()),
        })
    })
    .await
    .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "promotion failed"))?
    .map_err(registry_error)?;
    let serving = refresh_now(&s).await?;
    Ok(Json(json!({ "move": mv, "serving_version": serving })).into_response())
}

async fn admin_reload(
    State(s): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    authorize(&s, &headers)?;
    let serving = refresh_now(&s).await?;
    Ok(Json(json!({ "alias": s.slot.alias, "serving_version": serving })).into_response())
}

async fn refresh_now(s: &Arc<AppState>) -> Result<Option<i64>, ApiError> {
    let s2 = s.clone();
    tokio::task::spawn_blocking(move || s2.slot.refresh())
        .await
        .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "reload failed"))?
        .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e))
}

fn registry_error(e: RegistryError) -> ApiError {
    let status = match &e {
        RegistryError::Store(StoreError::NoSuchRun(_)) | RegistryError::NoSuchVersion(_) => {
            StatusCode::NOT_FOUND
        }
        RegistryError::Store(StoreError::AmbiguousRun(_))
        | RegistryError::BadAlias(_)
        | RegistryError::NotFinished { .. }
        | RegistryError::NoBundle(_)
        | RegistryError::NoSuchAlias(_)
        | RegistryError::NothingToRollBack(_)
        | RegistryError::UnknownRun(_) => StatusCode::UNPROCESSABLE_ENTITY,
        RegistryError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    ApiError::new(status, e.to_string())
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn token_comparison() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secre", b"secret"));
        assert!(!constant_time_eq(b"", b"secret"));
        assert!(!constant_time_eq(b"secretx", b"secret"));
    }
}
