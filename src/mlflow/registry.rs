//! MLflow's model registry: registered models and versions (create, get, search) and aliases
//! (set, delete, get by alias), kept beside staytrack's registry with their own audit log.
//!
//! staytrack serves only what its own registry's aliases point at. An MLflow alias that shares
//! the name of an alias staytrack serves (`production`, or any alias its registry holds) is a
//! promotion: it goes through `promote::promote` (the `[promote]` policy, the audit log) and is
//! refused, with the reason, when the version's run carries no staytrack bundle.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::errors::MlflowError;
use super::filter::NameMatch;
use super::wire::{self, clip};
use super::Shared;
use crate::tracking::external_models::{RegisteredModel, RegisteredVersion};

type Answer = Result<Json<Value>, MlflowError>;

fn version_json(v: &RegisteredVersion) -> Value {
    let mut out = json!({
        "name": v.name,
        "version": v.version.to_string(),
        "creation_timestamp": v.created_at,
        "last_updated_timestamp": v.updated_at,
        "current_stage": "None",
        "source": v.source,
        "status": "READY",
        "aliases": v.aliases,
        "tags": [],
    });
    if let Some(r) = &v.run_id {
        out["run_id"] = json!(r);
    }
    if let Some(d) = &v.description {
        out["description"] = json!(d);
    }
    out
}

fn model_json(m: &RegisteredModel) -> Value {
    let mut out = json!({
        "name": m.name,
        "creation_timestamp": m.created_at,
        "last_updated_timestamp": m.updated_at,
        "latest_versions": m.latest.iter().map(version_json).collect::<Vec<_>>(),
        "aliases": m.aliases.iter()
            .map(|(a, v)| json!({"alias": a, "version": v.to_string()}))
            .collect::<Vec<_>>(),
        "tags": [],
    });
    if let Some(d) = &m.description {
        out["description"] = json!(d);
    }
    out
}

fn model_name(n: Option<String>) -> Result<String, MlflowError> {
    let n = n.ok_or_else(|| MlflowError::invalid("name: missing"))?;
    wire::check_name("name", &n, wire::MAX_NAME)?;
    Ok(n)
}

fn version_number(v: Option<String>) -> Result<i64, MlflowError> {
    let v = v.ok_or_else(|| MlflowError::invalid("version: missing"))?;
    match v.parse::<i64>() {
        Ok(n) if n >= 1 && v.len() <= 12 => Ok(n),
        _ => Err(MlflowError::invalid(format!(
            "version: '{}' is not a version number",
            clip(&v)
        ))),
    }
}

/// MLflow's alias rule: 1 to 255 characters, not `latest`, not `v<digits>` (a version's name).
fn alias_name(a: Option<String>) -> Result<String, MlflowError> {
    let a = a.ok_or_else(|| MlflowError::invalid("alias: missing"))?;
    let versionish = a.len() > 1
        && (a.starts_with('v') || a.starts_with('V'))
        && a[1..].bytes().all(|b| b.is_ascii_digit());
    if a.is_empty()
        || a.chars().count() > wire::MAX_ALIAS
        || a.chars().any(|c| c.is_control() || c == '/')
        || a.eq_ignore_ascii_case("latest")
        || versionish
    {
        return Err(MlflowError::invalid(format!(
            "alias: '{}' must have 1 to {} characters, no '/', and be neither 'latest' nor v<number>",
            clip(&a),
            wire::MAX_ALIAS
        )));
    }
    Ok(a)
}

#[derive(Deserialize)]
struct CreateModel {
    name: Option<String>,
    description: Option<String>,
    #[serde(default)]
    tags: Vec<wire::KeyValue>,
}

/// Registered models and versions keep no tags; a request with some is refused rather than
/// answered as if they were kept.
fn no_tags(tags: &[wire::KeyValue]) -> Result<(), MlflowError> {
    match tags.first() {
        None => Ok(()),
        Some(t) => Err(MlflowError::invalid(format!(
            "tags: registered models and versions keep no tags here ('{}' given)",
            clip(&t.key)
        ))),
    }
}

pub async fn create_model(State(s): State<Shared>, body: Bytes) -> Answer {
    let req: CreateModel = wire::from_body(&body)?;
    let name = model_name(req.name)?;
    no_tags(&req.tags)?;
    if let Some(d) = &req.description {
        wire::check_value("description", &name, d, wire::MAX_TAG_VALUE)?;
    }
    let m = super::write(&s, move |st| {
        st.create_registered_model(&name, req.description.as_deref())?;
        Ok(st.registered_model(&name)?)
    })
    .await?;
    Ok(Json(json!({"registered_model": model_json(&m)})))
}

#[derive(Deserialize)]
struct ByName {
    name: Option<String>,
}

pub async fn get_model(State(s): State<Shared>, uri: Uri) -> Answer {
    let name = model_name(wire::from_query::<ByName>(&uri)?.name)?;
    let m = super::read(&s, move |st| Ok(st.registered_model(&name)?)).await?;
    Ok(Json(json!({"registered_model": model_json(&m)})))
}

#[derive(Deserialize)]
struct Search {
    filter: Option<String>,
    #[serde(default, deserialize_with = "wire::opt_i64")]
    max_results: Option<i64>,
    page_token: Option<String>,
}

pub async fn search_models(State(s): State<Shared>, uri: Uri) -> Answer {
    let req: Search = wire::from_query(&uri)?;
    let filter = req.filter.unwrap_or_default();
    let glob = match super::filter::name_match("filter", &filter, true)? {
        NameMatch::All => None,
        NameMatch::Glob(g) => Some(g),
        NameMatch::Nothing => return Ok(Json(json!({"registered_models": []}))),
    };
    let limit = wire::max_results(req.max_results, 100)?;
    let question = format!("models\u{1}{filter}");
    let offset = wire::read_page_token(req.page_token.as_deref(), &question)?;
    let mut found = super::read(&s, move |st| {
        Ok(st.registered_models(None, glob.as_deref(), offset, limit + 1)?)
    })
    .await?;
    let more = found.len() > limit;
    found.truncate(limit);
    let mut out = json!({"registered_models": found.iter().map(model_json).collect::<Vec<_>>()});
    if more {
        out["next_page_token"] = json!(wire::page_token(offset + limit, &question));
    }
    Ok(Json(out))
}

#[derive(Deserialize)]
struct CreateVersion {
    name: Option<String>,
    source: Option<String>,
    run_id: Option<String>,
    description: Option<String>,
    #[serde(default)]
    tags: Vec<wire::KeyValue>,
}

pub async fn create_version(State(s): State<Shared>, body: Bytes) -> Answer {
    let req: CreateVersion = wire::from_body(&body)?;
    let name = model_name(req.name)?;
    no_tags(&req.tags)?;
    let source = req
        .source
        .ok_or_else(|| MlflowError::invalid("source: missing"))?;
    wire::check_value("source", &name, &source, wire::MAX_DATASET_SOURCE)?;
    let run = req
        .run_id
        .filter(|r| !r.is_empty())
        .map(|r| wire::run_id("run_id", &r))
        .transpose()?;
    if let Some(d) = &req.description {
        wire::check_value("description", &name, d, wire::MAX_TAG_VALUE)?;
    }
    let v = super::write(&s, move |st| {
        Ok(st.create_registered_version(
            &name,
            &source,
            run.as_deref(),
            req.description.as_deref(),
        )?)
    })
    .await?;
    Ok(Json(json!({"model_version": version_json(&v)})))
}

#[derive(Deserialize)]
struct ByVersion {
    name: Option<String>,
    version: Option<String>,
}

pub async fn get_version(State(s): State<Shared>, uri: Uri) -> Answer {
    let req: ByVersion = wire::from_query(&uri)?;
    let name = model_name(req.name)?;
    let version = version_number(req.version)?;
    let v = super::read(&s, move |st| Ok(st.registered_version(&name, version)?)).await?;
    Ok(Json(json!({"model_version": version_json(&v)})))
}

pub async fn search_versions(State(s): State<Shared>, uri: Uri) -> Answer {
    let req: Search = wire::from_query(&uri)?;
    let filter = req.filter.unwrap_or_default();
    let Some(eqs) = super::filter::equalities("filter", &filter, &["name", "run_id"])? else {
        return Ok(Json(json!({"model_versions": []})));
    };
    let name = eqs
        .iter()
        .find(|(k, _)| k == "name")
        .map(|(_, v)| v.clone());
    let run = eqs
        .iter()
        .find(|(k, _)| k == "run_id")
        .map(|(_, v)| v.clone());
    let limit = wire::max_results(req.max_results, 10_000)?;
    let question = format!("versions\u{1}{filter}");
    let offset = wire::read_page_token(req.page_token.as_deref(), &question)?;
    let mut found = super::read(&s, move |st| {
        Ok(st.registered_versions(name.as_deref(), run.as_deref(), offset, limit + 1, true)?)
    })
    .await?;
    let more = found.len() > limit;
    found.truncate(limit);
    let mut out = json!({"model_versions": found.iter().map(version_json).collect::<Vec<_>>()});
    if more {
        out["next_page_token"] = json!(wire::page_token(offset + limit, &question));
    }
    Ok(Json(out))
}

#[derive(Deserialize)]
struct Alias {
    name: Option<String>,
    alias: Option<String>,
    version: Option<String>,
}

pub async fn set_alias(State(s): State<Shared>, headers: HeaderMap, body: Bytes) -> Answer {
    let req: Alias = wire::from_body(&body)?;
    let name = model_name(req.name)?;
    let alias = alias_name(req.alias)?;
    let version = version_number(req.version)?;
    let actor = super::actor(&headers);
    let cfg = s.cfg.clone();
    super::write(&s, move |st| {
        let v = st.registered_version(&name, version)?;
        let served =
            alias == crate::tracking::registry::PRODUCTION || st.alias_target(&alias)?.is_some();
        if served {
            let run = v.run_id.clone().ok_or_else(|| {
                MlflowError::invalid(format!(
                    "alias '{alias}' is one staytrack serves; version {version} of '{name}' names \
                     no run, so it carries no staytrack bundle and cannot be served"
                ))
            })?;
            let bundle = st.artifacts(&run)?.iter().any(|a| a.name == "bundle");
            if !bundle {
                return Err(MlflowError::invalid(format!(
                    "alias '{alias}' is one staytrack serves; version {version} of '{name}' \
                     (run {run}) was logged through the MLflow API and carries no staytrack \
                     bundle, so it cannot be served. Give it another alias (e.g. 'champion') \
                     to mark it; it can still be compared (`staytrack runs compare`)"
                )));
            }
            let req = crate::promote::Request {
                target: crate::promote::Target::Run(run),
                alias: alias.clone(),
                actor: actor.clone(),
                reason: Some(format!(
                    "alias set through the MLflow API on version {version} of '{name}'"
                )),
                force: false,
            };
            crate::promote::promote(st, &cfg, &req)
                .map_err(|e| MlflowError::invalid(format!("not promoted: {e}")))?;
        }
        Ok(st.set_registered_alias(&name, &alias, version, &actor)?)
    })
    .await?;
    Ok(Json(json!({})))
}

pub async fn delete_alias(
    State(s): State<Shared>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Answer {
    // The client sends DELETE's fields as a JSON body; a query string is read too.
    let req: Alias = if body.iter().all(|b| b.is_ascii_whitespace()) {
        wire::from_query(&uri)?
    } else {
        wire::from_body(&body)?
    };
    let name = model_name(req.name)?;
    let alias = alias_name(req.alias)?;
    let actor = super::actor(&headers);
    super::write(&s, move |st| {
        Ok(st.delete_registered_alias(&name, &alias, &actor)?)
    })
    .await?;
    Ok(Json(json!({})))
}

pub async fn get_by_alias(State(s): State<Shared>, uri: Uri) -> Answer {
    let req: Alias = wire::from_query(&uri)?;
    let name = model_name(req.name)?;
    let alias = alias_name(req.alias)?;
    let v = super::read(&s, move |st| {
        Ok(st.registered_version_by_alias(&name, &alias)?)
    })
    .await?;
    Ok(Json(json!({"model_version": version_json(&v)})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_follow_mlflows_rule() {
        assert!(alias_name(Some("champion".into())).is_ok());
        for bad in ["", "latest", "v3", "a/b", "x\n"] {
            assert!(alias_name(Some(bad.into())).is_err(), "{bad:?}");
        }
        assert!(alias_name(Some("x".repeat(256))).is_err());
    }
}
