//! Runs: create, get, update (status, end time, name), delete and restore (soft, as MLflow
//! does), and search with a filter, an order and page tokens.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::Uri;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::errors::MlflowError;
use super::wire::{self, KeyValue};
use super::Shared;
use crate::tracking::external::{NewExternalRun, RunQuery};

type Answer = Result<Json<Value>, MlflowError>;

#[derive(Deserialize)]
struct Create {
    experiment_id: Option<String>,
    user_id: Option<String>,
    #[serde(default, deserialize_with = "wire::opt_i64")]
    start_time: Option<i64>,
    #[serde(default)]
    tags: Vec<KeyValue>,
    run_name: Option<String>,
}

pub async fn create(State(s): State<Shared>, body: Bytes) -> Answer {
    let req: Create = wire::from_body(&body)?;
    let experiment_id =
        wire::experiment_in("experiment_id", req.experiment_id.as_deref().unwrap_or("0"))?;
    if let Some(n) = &req.run_name {
        if !n.is_empty() {
            wire::check_name("run_name", n, wire::MAX_NAME)?;
        }
    }
    if let Some(u) = &req.user_id {
        wire::check_value("user_id", "user_id", u, wire::MAX_KEY)?;
    }
    let tags = super::logging::tags(&req.tags)?;
    let run = NewExternalRun {
        experiment_id,
        name: req.run_name,
        user_id: req.user_id,
        start_time: req.start_time,
        tags,
    };
    let r = super::write(&s, move |st| {
        let id = st.create_external_run(&run)?;
        Ok(st.external_run(&id)?)
    })
    .await?;
    Ok(Json(json!({"run": wire::run_json(&r)})))
}

#[derive(Deserialize)]
struct ById {
    run_id: Option<String>,
    run_uuid: Option<String>,
}

pub async fn get(State(s): State<Shared>, uri: Uri) -> Answer {
    let req: ById = wire::from_query(&uri)?;
    let id = wire::either_run_id(&req.run_id, &req.run_uuid)?;
    let r = super::read(&s, move |st| Ok(st.external_run(&id)?)).await?;
    Ok(Json(json!({"run": wire::run_json(&r)})))
}

#[derive(Deserialize)]
struct Update {
    run_id: Option<String>,
    run_uuid: Option<String>,
    status: Option<String>,
    #[serde(default, deserialize_with = "wire::opt_i64")]
    end_time: Option<i64>,
    run_name: Option<String>,
}

pub async fn update(State(s): State<Shared>, body: Bytes) -> Answer {
    let req: Update = wire::from_body(&body)?;
    let id = wire::either_run_id(&req.run_id, &req.run_uuid)?;
    if let Some(n) = req.run_name.as_deref().filter(|n| !n.is_empty()) {
        wire::check_name("run_name", n, wire::MAX_NAME)?;
    }
    let r = super::write(&s, move |st| {
        Ok(st.update_external_run(
            &id,
            req.status.as_deref(),
            req.end_time,
            req.run_name.as_deref(),
        )?)
    })
    .await?;
    let mut info = wire::run_json(&r)["info"].take();
    if let Some(o) = info.as_object_mut() {
        o.remove("run_uuid");
    }
    Ok(Json(json!({"run_info": info})))
}

#[derive(Deserialize)]
struct Lifecycle {
    run_id: Option<String>,
}

pub async fn delete(State(s): State<Shared>, body: Bytes) -> Answer {
    set_deleted(s, body, true).await
}

pub async fn restore(State(s): State<Shared>, body: Bytes) -> Answer {
    set_deleted(s, body, false).await
}

async fn set_deleted(s: Shared, body: Bytes, deleted: bool) -> Answer {
    let req: Lifecycle = wire::from_body(&body)?;
    let id = wire::either_run_id(&req.run_id, &None)?;
    super::write(&s, move |st| Ok(st.set_external_deleted(&id, deleted)?)).await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
struct Search {
    #[serde(default, deserialize_with = "wire::list")]
    experiment_ids: Vec<String>,
    filter: Option<String>,
    run_view_type: Option<String>,
    #[serde(default, deserialize_with = "wire::opt_i64")]
    max_results: Option<i64>,
    #[serde(default, deserialize_with = "wire::list")]
    order_by: Vec<String>,
    page_token: Option<String>,
}

pub async fn search(State(s): State<Shared>, body: Bytes) -> Answer {
    let req: Search = wire::from_body(&body)?;
    if req.experiment_ids.is_empty() {
        return Err(MlflowError::invalid(
            "experiment_ids: give at least one experiment",
        ));
    }
    if req.experiment_ids.len() > 1000 {
        return Err(MlflowError::invalid(
            "experiment_ids: more than 1,000 experiments",
        ));
    }
    let experiments = req
        .experiment_ids
        .iter()
        .map(|e| wire::experiment_in("experiment_ids", e))
        .collect::<Result<Vec<_>, _>>()?;
    let filter = req.filter.unwrap_or_default();
    let clauses = super::filter::run_filter(&filter)?;
    let order = super::filter::run_order(&req.order_by)?;
    let view = super::experiments::view(req.run_view_type.as_deref())?;
    let limit = wire::max_results(req.max_results, wire::DEFAULT_RESULTS)?;
    // The token is bound to everything that shapes the result but the page size.
    let question = format!(
        "runs\u{1}{}\u{1}{filter}\u{1}{}\u{1}{view:?}",
        req.experiment_ids.join(","),
        req.order_by.join("\u{2}")
    );
    let offset = wire::read_page_token(req.page_token.as_deref(), &question)?;
    let q = RunQuery {
        experiments,
        clauses,
        order,
        view,
        offset,
        limit,
    };
    let (runs, more) = super::read(&s, move |st| Ok(st.search_external_runs(&q)?)).await?;
    let mut out = json!({"runs": runs.iter().map(wire::run_json).collect::<Vec<_>>()});
    if more {
        out["next_page_token"] = json!(wire::page_token(offset + limit, &question));
    }
    Ok(Json(out))
}
