//! Artifacts through the server (MLflow's proxied artifact routes): a run's artifact URI is
//! `mlflow-artifacts:/<experiment>/<run>/artifacts`, which the client resolves to
//! `/api/2.0/mlflow-artifacts/artifacts/<experiment>/<run>/artifacts/<path>` and PUTs or GETs.
//!
//! An upload streams to a temporary file in the workspace while it is hashed and counted, is
//! refused past `--max-artifact`, and is renamed to its content address (`bundle::addressed_path`);
//! only the run's artifact row carries the client's path, so no client path ever becomes a file
//! path.

use std::io::Write;
use std::path::PathBuf;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::errors::MlflowError;
use super::wire::{self, experiment_out};
use super::Shared;
use crate::tracking::ArtifactRow;

/// The longest artifact path taken, and the most folders deep.
const MAX_PATH: usize = 1024;
const MAX_DEPTH: usize = 32;

pub fn experiment_location(id: i64) -> String {
    format!("mlflow-artifacts:/{}", experiment_out(id))
}

pub fn run_location(experiment: i64, run: &str) -> String {
    format!(
        "mlflow-artifacts:/{}/{run}/artifacts",
        experiment_out(experiment)
    )
}

/// Where a path points: a run, and a name within its artifacts (empty: the root).
#[derive(Debug, PartialEq)]
struct Target {
    experiment: i64,
    run: String,
    name: String,
}

/// Reads `<experiment>/<run>/artifacts[/<name>]`, refusing anything that could be read as
/// another place: empty, `.` or `..` steps, NUL, backslashes, absolute paths, over-long paths.
fn target(path: &str) -> Result<Target, MlflowError> {
    let bad =
        |why: &str| MlflowError::invalid(format!("artifact path '{}': {why}", wire::clip(path)));
    if path.len() > MAX_PATH {
        return Err(bad("longer than 1,024 bytes"));
    }
    if path.starts_with('/') {
        return Err(bad("absolute paths are not allowed"));
    }
    if path.contains('\0') || path.contains('\\') {
        return Err(bad("NUL and backslash are not allowed"));
    }
    let parts: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    if parts.len() > MAX_DEPTH {
        return Err(bad("too many folders"));
    }
    if parts
        .iter()
        .any(|p| p.is_empty() || *p == "." || *p == "..")
    {
        return Err(bad("empty, '.' and '..' steps are not allowed"));
    }
    if parts.len() < 3 || parts[2] != "artifacts" {
        return Err(bad(
            "expected <experiment id>/<run id>/artifacts/<path> (the run's artifact URI)",
        ));
    }
    Ok(Target {
        experiment: wire::experiment_in("artifact path", parts[0])?,
        run: wire::run_id("artifact path", parts[1])?,
        name: parts[3..].join("/"),
    })
}

/// The extension the stored file keeps: the name's own when it is short and plain.
fn extension(name: &str) -> String {
    name.rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .filter(|e| !e.is_empty() && e.len() <= 10 && e.bytes().all(|b| b.is_ascii_alphanumeric()))
        .unwrap_or_else(|| "bin".into())
}

/// Checks that the run exists, is live and sits in the path's experiment.
async fn check_run(s: &Shared, t: &Target) -> Result<(), MlflowError> {
    let (run, exp) = (t.run.clone(), t.experiment);
    super::read(s, move |st| {
        if st.run_experiment(&run)? != exp {
            return Err(MlflowError::not_found(format!(
                "run '{run}' is not in experiment '{}'",
                experiment_out(exp)
            )));
        }
        Ok(())
    })
    .await
}

pub async fn upload(
    State(s): State<Shared>,
    Path(path): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, MlflowError> {
    let t = target(&path)?;
    if t.name.is_empty() {
        return Err(MlflowError::invalid(
            "artifact path: names the run's artifact folder, not a file",
        ));
    }
    let max = s.max_artifact;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max) {
        return Err(too_big(max));
    }
    check_run(&s, &t).await?;
    let incoming = s.artifacts_dir.join("__");
    crate::util::create_private_dir(&incoming).map_err(MlflowError::internal)?;
    let tmp =
        crate::util::TempFile::beside(&incoming.join("upload")).map_err(MlflowError::internal)?;
    let mut file = tmp.file().map_err(MlflowError::internal)?;
    let mut hasher = Sha256::new();
    let mut n: u64 = 0;
    let mut body = body;
    while let Some(frame) =
        std::future::poll_fn(|cx| http_body::Body::poll_frame(std::pin::Pin::new(&mut body), cx))
            .await
    {
        let frame = frame.map_err(|e| MlflowError::invalid(format!("artifact body: {e}")))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        n += data.len() as u64;
        if n > max {
            return Err(too_big(max));
        }
        hasher.update(&data);
        file.write_all(&data).map_err(MlflowError::internal)?;
    }
    drop(file);
    let sha: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let dest = crate::bundle::addressed_path(&s.artifacts_dir, &sha, &extension(&t.name));
    if let Some(dir) = dest.parent() {
        crate::util::create_private_dir(dir).map_err(MlflowError::internal)?;
    }
    // The same bytes are stored once; a second upload of them leaves the first file.
    if dest.exists() {
        drop(tmp);
    } else {
        let d = dest.clone();
        tokio::task::spawn_blocking(move || tmp.persist(&d))
            .await
            .map_err(MlflowError::internal)?
            .map_err(MlflowError::internal)?;
    }
    let row = ArtifactRow {
        name: t.name,
        path: dest.to_string_lossy().into_owned(),
        sha256: sha,
        bytes: n as i64,
    };
    super::write(&s, move |st| Ok(st.record_external_artifact(&t.run, &row)?)).await?;
    Ok(Json(json!({})))
}

fn too_big(max: u64) -> MlflowError {
    MlflowError::too_large(format!(
        "the artifact is larger than {max} bytes (--max-artifact)"
    ))
}

/// The stored file of an artifact row, by its content address (the row's path is not trusted
/// as a place to read).
fn stored_file(s: &Shared, a: &ArtifactRow) -> Option<PathBuf> {
    let hex = a.sha256.len() == 64 && a.sha256.bytes().all(|b| b.is_ascii_hexdigit());
    let ext = a.path.rsplit_once('.').map(|(_, e)| e.to_string())?;
    let plain =
        !ext.is_empty() && ext.len() <= 10 && ext.bytes().all(|b| b.is_ascii_alphanumeric());
    (hex && plain).then(|| crate::bundle::addressed_path(&s.artifacts_dir, &a.sha256, &ext))
}

pub async fn download(
    State(s): State<Shared>,
    Path(path): Path<String>,
) -> Result<Response, MlflowError> {
    let t = target(&path)?;
    check_run(&s, &t).await?;
    let (run, name) = (t.run.clone(), t.name.clone());
    let row = super::read(&s, move |st| {
        Ok(st.artifacts(&run)?.into_iter().find(|a| a.name == name))
    })
    .await?
    .ok_or_else(|| {
        MlflowError::not_found(format!(
            "run '{}' has no artifact '{}'",
            t.run,
            wire::clip(&t.name)
        ))
    })?;
    let file = stored_file(&s, &row).ok_or_else(|| {
        MlflowError::not_found(format!(
            "artifact '{}' has no stored file",
            wire::clip(&row.name)
        ))
    })?;
    let bytes = tokio::fs::read(&file).await.map_err(|_| {
        MlflowError::not_found(format!(
            "artifact '{}' is recorded but its file is not in this workspace",
            wire::clip(&row.name)
        ))
    })?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response())
}

/// The files and folders directly inside `dir` (a name within the run's artifacts, empty for
/// the root): (name relative to `dir`, is a folder, size).
fn children(rows: &[ArtifactRow], dir: &str) -> Vec<(String, bool, Option<i64>)> {
    let mut out: Vec<(String, bool, Option<i64>)> = Vec::new();
    for a in rows {
        let rest = if dir.is_empty() {
            Some(a.name.as_str())
        } else {
            a.name.strip_prefix(dir).and_then(|r| r.strip_prefix('/'))
        };
        let Some(rest) = rest.filter(|r| !r.is_empty()) else {
            continue;
        };
        let entry = match rest.split_once('/') {
            Some((folder, _)) => (folder.to_string(), true, None),
            None => (rest.to_string(), false, Some(a.bytes)),
        };
        if !out.iter().any(|(n, d, _)| *n == entry.0 && *d == entry.1) {
            out.push(entry);
        }
    }
    out.sort();
    out
}

#[derive(Deserialize)]
struct ListQuery {
    path: Option<String>,
}

/// `GET /api/2.0/mlflow-artifacts/artifacts?path=<experiment>/<run>/artifacts[/<dir>]`.
pub async fn list(State(s): State<Shared>, uri: Uri) -> Result<Json<Value>, MlflowError> {
    let q: ListQuery = wire::from_query(&uri)?;
    let t = target(q.path.as_deref().unwrap_or(""))?;
    check_run(&s, &t).await?;
    let run = t.run.clone();
    let rows = super::read(&s, move |st| Ok(st.artifacts(&run)?)).await?;
    let files: Vec<Value> = children(&rows, &t.name)
        .into_iter()
        .map(|(p, d, size)| match size {
            Some(n) => json!({"path": p, "is_dir": d, "file_size": n}),
            None => json!({"path": p, "is_dir": d}),
        })
        .collect();
    Ok(Json(json!({"files": files})))
}

#[derive(Deserialize)]
struct ListForRun {
    run_id: Option<String>,
    run_uuid: Option<String>,
    path: Option<String>,
}

/// `GET /api/2.0/mlflow/artifacts/list?run_id=...&path=<dir>`: paths relative to the root.
pub async fn list_for_run(State(s): State<Shared>, uri: Uri) -> Result<Json<Value>, MlflowError> {
    let q: ListForRun = wire::from_query(&uri)?;
    let id = wire::either_run_id(&q.run_id, &q.run_uuid)?;
    let dir = q.path.unwrap_or_default();
    let dir = dir.trim_matches('/').to_string();
    if !dir.is_empty() {
        // The same checks as a full path, on a stand-in prefix.
        target(&format!("0/{id}/artifacts/{dir}"))?;
    }
    let run = id.clone();
    let (exp, rows) = super::read(&s, move |st| {
        Ok((st.run_experiment(&run)?, st.artifacts(&run)?))
    })
    .await?;
    let files: Vec<Value> = children(&rows, &dir)
        .into_iter()
        .map(|(p, d, size)| {
            let p = if dir.is_empty() {
                p
            } else {
                format!("{dir}/{p}")
            };
            match size {
                Some(n) => json!({"path": p, "is_dir": d, "file_size": n}),
                None => json!({"path": p, "is_dir": d}),
            }
        })
        .collect();
    Ok(Json(
        json!({"root_uri": run_location(exp, &id), "files": files}),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_a_run_and_never_leave_it() {
        let t = target("0/abc-1/artifacts/plots/roc.png").unwrap();
        assert_eq!(
            (t.experiment, t.run.as_str(), t.name.as_str()),
            (1, "abc-1", "plots/roc.png")
        );
        assert_eq!(target("3/r/artifacts").unwrap().name, "");
        for bad in [
            "/etc/passwd",
            "0/r/artifacts/../../x",
            "0/r/artifacts/a/./b",
            "0/r/artifacts//b",
            "0/r/other/b",
            "0/r/artifacts/a\0b",
            "0/r/artifacts/a\\..\\b",
            "x/r/artifacts/b",
            "0/../artifacts/b",
        ] {
            assert!(target(bad).is_err(), "{bad:?}");
        }
        assert!(target(&format!("0/r/artifacts/{}", "a/".repeat(40))).is_err());
    }

    #[test]
    fn listings_show_one_level() {
        let row = |n: &str, b| ArtifactRow {
            name: n.into(),
            path: String::new(),
            sha256: String::new(),
            bytes: b,
        };
        let rows = [
            row("a.txt", 3),
            row("d/b.json", 4),
            row("d/e/c", 5),
            row("bundle", 9),
        ];
        assert_eq!(
            children(&rows, ""),
            vec![
                ("a.txt".into(), false, Some(3)),
                ("bundle".into(), false, Some(9)),
                ("d".into(), true, None)
            ]
        );
        assert_eq!(
            children(&rows, "d"),
            vec![("b.json".into(), false, Some(4)), ("e".into(), true, None)]
        );
    }

    #[test]
    fn stored_extensions_are_plain() {
        assert_eq!(extension("fig.PNG"), "png");
        assert_eq!(extension("noext"), "bin");
        assert_eq!(extension("x.tar.gz"), "gz");
        assert_eq!(extension("x.a/b"), "bin");
    }
}
