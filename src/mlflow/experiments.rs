//! Experiments: create, get, get by name, search. An experiment's artifact location is
//! `mlflow-artifacts:/<id>`, so the client sends its files through this server.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::Uri;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::errors::MlflowError;
use super::filter::NameMatch;
use super::wire::{self, KeyValue};
use super::Shared;
use crate::tracking::external::View;

type Answer = Result<Json<Value>, MlflowError>;

#[derive(Deserialize)]
struct Create {
    name: Option<String>,
    #[serde(default)]
    tags: Vec<KeyValue>,
}

pub async fn create(State(s): State<Shared>, body: Bytes) -> Answer {
    let req: Create = wire::from_body(&body)?;
    let name = req
        .name
        .ok_or_else(|| MlflowError::invalid("name: missing"))?;
    wire::check_name("name", &name, wire::MAX_NAME)?;
    if req.tags.len() > wire::MAX_PARAMS_TAGS_PER_BATCH {
        return Err(MlflowError::invalid(format!(
            "tags: {} given; at most {}",
            req.tags.len(),
            wire::MAX_PARAMS_TAGS_PER_BATCH
        )));
    }
    let mut tags = Vec::with_capacity(req.tags.len());
    for t in req.tags {
        wire::check_key("tag", &t.key)?;
        wire::check_value("tag", &t.key, &t.value, wire::MAX_EXPERIMENT_TAG_VALUE)?;
        tags.push((t.key, t.value));
    }
    let id = super::write(&s, move |st| {
        Ok(st.create_experiment(&name, super::artifacts::experiment_location, &tags)?)
    })
    .await?;
    Ok(Json(json!({"experiment_id": wire::experiment_out(id)})))
}

#[derive(Deserialize)]
struct ById {
    experiment_id: Option<String>,
}

pub async fn get(State(s): State<Shared>, uri: Uri) -> Answer {
    let req: ById = wire::from_query(&uri)?;
    let given = req
        .experiment_id
        .ok_or_else(|| MlflowError::invalid("experiment_id: missing"))?;
    let id = wire::experiment_in("experiment_id", &given)?;
    let e = super::read(&s, move |st| {
        st.experiment(id)?.ok_or_else(|| {
            MlflowError::not_found(format!("no experiment with id '{}'", wire::clip(&given)))
        })
    })
    .await?;
    Ok(Json(json!({"experiment": wire::experiment_json(&e)})))
}

#[derive(Deserialize)]
struct ByName {
    experiment_name: Option<String>,
}

pub async fn get_by_name(State(s): State<Shared>, uri: Uri) -> Answer {
    let req: ByName = wire::from_query(&uri)?;
    let name = req
        .experiment_name
        .ok_or_else(|| MlflowError::invalid("experiment_name: missing"))?;
    wire::check_name("experiment_name", &name, wire::MAX_NAME)?;
    let e = super::read(&s, move |st| {
        st.experiment_by_name(&name)?.ok_or_else(|| {
            MlflowError::not_found(format!("no experiment named '{}'", wire::clip(&name)))
        })
    })
    .await?;
    Ok(Json(json!({"experiment": wire::experiment_json(&e)})))
}

#[derive(Deserialize)]
struct Search {
    #[serde(default, deserialize_with = "wire::opt_i64")]
    max_results: Option<i64>,
    filter: Option<String>,
    page_token: Option<String>,
    view_type: Option<String>,
    #[serde(default, deserialize_with = "wire::list")]
    order_by: Vec<String>,
}

pub async fn search(State(s): State<Shared>, body: Bytes) -> Answer {
    run_search(s, wire::from_body(&body)?).await
}

pub async fn search_get(State(s): State<Shared>, uri: Uri) -> Answer {
    run_search(s, wire::from_query(&uri)?).await
}

/// Parses a `view_type` (`ACTIVE_ONLY` when absent).
pub fn view(v: Option<&str>) -> Result<View, MlflowError> {
    match v.unwrap_or("ACTIVE_ONLY") {
        "ACTIVE_ONLY" | "" => Ok(View::Active),
        "DELETED_ONLY" => Ok(View::Deleted),
        "ALL" => Ok(View::All),
        other => Err(MlflowError::invalid(format!(
            "view_type: '{}' is not ACTIVE_ONLY, DELETED_ONLY or ALL",
            wire::clip(other)
        ))),
    }
}

async fn run_search(s: Shared, req: Search) -> Answer {
    let limit = wire::max_results(req.max_results, wire::DEFAULT_RESULTS)?;
    let view = view(req.view_type.as_deref())?;
    let filter = req.filter.unwrap_or_default();
    let glob = match super::filter::name_match("filter", &filter, false)? {
        NameMatch::All => None,
        NameMatch::Glob(g) => Some(g),
        // Without tags to compare, `name_match` never leaves nothing here.
        NameMatch::Nothing => Some(String::new()),
    };
    // Experiments are listed by id; an order other than that is not offered.
    for o in &req.order_by {
        let f = o.trim().to_ascii_lowercase();
        if !matches!(f.as_str(), "experiment_id" | "experiment_id asc" | "") {
            return Err(MlflowError::invalid(format!(
                "order_by: '{}'; experiments are listed by id only",
                wire::clip(o)
            )));
        }
    }
    let question = format!("experiments\u{1}{filter}\u{1}{view:?}");
    let offset = wire::read_page_token(req.page_token.as_deref(), &question)?;
    let (found, more) = super::read(&s, move |st| {
        let mut found = st.search_experiments(glob.as_deref(), view, offset, limit + 1)?;
        let more = found.len() > limit;
        found.truncate(limit);
        Ok((found, more))
    })
    .await?;
    let mut out = json!({
        "experiments": found.iter().map(wire::experiment_json).collect::<Vec<_>>(),
    });
    if more {
        out["next_page_token"] = json!(wire::page_token(offset + limit, &question));
    }
    Ok(Json(out))
}
