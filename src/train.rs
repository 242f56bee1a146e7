//! The run lifecycle, shared by the CLI, the TUI and the server: load and split the data once,
//! queue runs, fit each one, evaluate it on the validation split, write its Bundle, and record
//! everything, reporting progress over a channel. A run ends finished, failed (with the reason)
//! or cancelled.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::Sender;
use std::time::Instant;

use anyhow::Context;

use crate::bundle::{sha256_file, Bundle, DataFingerprint, BUNDLE_FORMAT};
use crate::data::profile::Profile;
use crate::data::profile::{ColumnProfile, PREDICTION_COLUMN};
use crate::data::split::stratified_split;
use crate::data::{DatasetSpec, Labels};
use crate::features::{Encoded, FeaturePipeline};
use crate::metrics::Metric;
use crate::metrics::{self, Evaluation};
use crate::models::{self, Family, FitContext, FitError, FitProgress, Params};
use crate::tracking::CurveKind;
use crate::tracking::{ArtifactRow, NewRun, RunRecord, RunStatus, Store};

/// One run to train.
#[derive(Debug, Clone)]
pub struct Job {
    pub name: String,
    pub params: Params,
}

/// The share of rows held out for validation unless told otherwise.
pub const DEFAULT_VALID_FRACTION: f64 = 0.2;

/// Data loaded, split and encoded once for every run of a batch.
pub struct Prepared {
    pub path: PathBuf,
    pub sha256: String,
    pub rows: usize,
    pub seed: u64,
    pub valid_fraction: f64,
    pub spec: DatasetSpec,
    pub pipeline: FeaturePipeline,
    pub profile: Profile,
    /// The training rows, encoded compactly (see `Encoded`): the frame is gone by the time
    /// models fit, so memory holds these and little else.
    pub x_train: Encoded,
    pub y_train: Vec<u8>,
    pub x_valid: Encoded,
    pub y_valid: Vec<u8>,
    /// The validation rows' ids: the spec's first id column ("row" and the row's place in the
    /// file when there is none), so runs on the same split can be paired row by row.
    pub valid_id_column: String,
    pub valid_ids: Vec<String>,
    /// The validation rows' slices (`[slices]`), kept so each run is measured per slice.
    pub slices: crate::slices::Sliced,
}

/// Loads `path`, splits it (stratified, `valid_fraction`, `seed`), fits the feature pipeline on
/// the training part only and encodes both parts.
pub fn prepare(
    path: &Path,
    spec: &DatasetSpec,
    seed: u64,
    valid_fraction: f64,
) -> anyhow::Result<Prepared> {
    prepare_sliced(path, spec, &Default::default(), seed, valid_fraction)
}

/// `prepare`, keeping the validation rows' slices by `slices` (checked against `spec`).
pub fn prepare_sliced(
    path: &Path,
    spec: &DatasetSpec,
    slices: &crate::slices::SliceSettings,
    seed: u64,
    valid_fraction: f64,
) -> anyhow::Result<Prepared> {
    slices
        .check(spec)
        .map_err(|e| anyhow::anyhow!("[slices] {e}"))?;
    anyhow::ensure!(
        valid_fraction > 0.0 && valid_fraction < 1.0,
        "the validation fraction must be between 0 and 1 (got {valid_fraction})"
    );
    let spec = spec.clone();
    // The file is hashed on its own thread while it is read in parts: neither holds its bytes.
    let (sha256, frame) = std::thread::scope(|s| {
        let hash = s.spawn(|| sha256_file(path));
        let frame = crate::data::load_csv(path, &spec, Labels::Required);
        let sha256 = hash
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("the hashing thread stopped")));
        (sha256, frame)
    });
    let frame = frame?;
    let sha256 = sha256.with_context(|| format!("{}: cannot read the file", path.display()))?;
    let y = frame.target.clone().expect("labelled data has a target");
    let split = stratified_split(&y, valid_fraction, seed);
    anyhow::ensure!(
        !split.valid.is_empty() && !split.train.is_empty(),
        "{}: {} rows are too few to split into training and validation parts",
        path.display(),
        y.len()
    );
    for (part, rows) in [("training", &split.train), ("validation", &split.valid)] {
        let pos = rows.iter().filter(|&&i| y[i] == 1).count();
        anyhow::ensure!(
            pos > 0 && pos < rows.len(),
            "{}: the {part} part ({} rows) holds only class {}; a classifier and its metrics \
             need both (use more rows or another --valid-fraction)",
            path.display(),
            rows.len(),
            u8::from(pos > 0)
        );
    }
    let id_column = spec.case_id().map(|c| c.name.clone());
    let (valid_id_column, valid_ids) = match id_column
        .as_deref()
        .and_then(|name| Some((name, frame.column(name)?)))
    {
        Some((name, crate::data::ColumnData::Id(ids))) => (
            name.to_string(),
            split
                .valid
                .iter()
                .map(|&i| ids.get(i).to_string())
                .collect(),
        ),
        _ => (
            "row".to_string(),
            split.valid.iter().map(|&i| (i + 1).to_string()).collect(),
        ),
    };
    // The parts are encoded straight from the file's frame, which is dropped before any model
    // fits; the training part's own frame lives only while the pipeline and profile are fitted.
    let rows = frame.n_rows();
    let slices = crate::slices::Sliced::of_frame(slices, &frame, &split.valid);
    let train = frame.take(&split.train);
    let pipeline = FeaturePipeline::fit(&train)?;
    let profile = Profile::of(&train);
    drop(train);
    let x_train = pipeline.encode_rows(&frame, Some(&split.train))?;
    let x_valid = pipeline.encode_rows(&frame, Some(&split.valid))?;
    drop(frame);
    let (y_train, y_valid) = (
        split.train.iter().map(|&i| y[i]).collect(),
        split.valid.iter().map(|&i| y[i]).collect(),
    );
    Ok(Prepared {
        path: path.to_path_buf(),
        sha256,
        rows,
        seed,
        valid_fraction,
        profile,
        x_train,
        x_valid,
        y_train,
        y_valid,
        valid_id_column,
        valid_ids,
        slices,
        spec,
        pipeline,
    })
}

/// What a batch reports while it works.
#[derive(Debug, Clone)]
pub enum Event {
    Queued {
        run_id: String,
        name: String,
        family: Family,
    },
    Started {
        run_id: String,
    },
    Progress {
        run_id: String,
        progress: FitProgress,
    },
    Finished {
        run_id: String,
        result: Box<Outcome>,
    },
    Failed {
        run_id: String,
        reason: String,
    },
    Cancelled {
        run_id: String,
    },
}

/// A finished run's results.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub run_id: String,
    pub name: String,
    pub family: Family,
    pub evaluation: Evaluation,
    pub fit_seconds: f64,
    pub bundle_path: PathBuf,
}

/// Queues `jobs` in the store, then runs them one after another (each fit uses every core).
/// Returns the finished runs. A cancelled batch marks the current and remaining runs cancelled.
pub fn run_jobs(
    store: &mut Store,
    artifacts_dir: &Path,
    data: &Prepared,
    jobs: &[Job],
    events: &Sender<Event>,
    cancel: &AtomicBool,
) -> anyhow::Result<Vec<Outcome>> {
    let mut ids = Vec::with_capacity(jobs.len());
    for job in jobs {
        let id = store.create_run(&NewRun {
            name: job.name.clone(),
            family: job.params.family.name().to_string(),
            // The split is part of what a run is: record it beside the model's params.
            params: {
                let mut p = job.params.as_strings();
                p.push(("valid_fraction".into(), format!("{}", data.valid_fraction)));
                p
            },
            seed: Some(data.seed),
            data_path: Some(data.path.display().to_string()),
            data_sha256: Some(data.sha256.clone()),
            data_rows: Some(data.rows),
        })?;
        let _ = events.send(Event::Queued {
            run_id: id.clone(),
            name: job.name.clone(),
            family: job.params.family,
        });
        ids.push(id);
    }
    let mut outcomes = Vec::new();
    for (job, id) in jobs.iter().zip(&ids) {
        if cancel.load(std::sync::atomic::Ordering::Relaxed) {
            store.set_status(
                id,
                RunStatus::Cancelled,
                Some("cancelled before it started"),
            )?;
            let _ = events.send(Event::Cancelled { run_id: id.clone() });
            continue;
        }
        store.set_status(id, RunStatus::Running, None)?;
        let _ = events.send(Event::Started { run_id: id.clone() });
        match run_one(store, artifacts_dir, data, job, id, events, cancel) {
            Ok(outcome) => {
                let _ = events.send(Event::Finished {
                    run_id: id.clone(),
                    result: Box::new(outcome.clone()),
                });
                outcomes.push(outcome);
            }
            Err(RunError::Cancelled) => {
                store.set_status(id, RunStatus::Cancelled, Some("cancelled while running"))?;
                let _ = events.send(Event::Cancelled { run_id: id.clone() });
            }
            Err(RunError::Failed(reason)) => {
                store.set_status(id, RunStatus::Failed, Some(&reason))?;
                let _ = events.send(Event::Failed {
                    run_id: id.clone(),
                    reason,
                });
            }
        }
    }
    Ok(outcomes)
}

pub(crate) enum RunError {
    Cancelled,
    Failed(String),
}

impl From<anyhow::Error> for RunError {
    fn from(e: anyhow::Error) -> Self {
        RunError::Failed(format!("{e:#}"))
    }
}

/// A model fitted and scored on the validation rows, not recorded yet.
pub(crate) struct Fit {
    pub fitted: models::Fitted,
    /// The validation rows' probabilities.
    pub p: Vec<f64>,
    pub evaluation: Evaluation,
    pub fit_seconds: f64,
    pub predict_seconds: f64,
    /// Training rows the model saw.
    pub train_rows: usize,
    /// The validation rows' metrics per slice, when `[slices]` names columns.
    pub slices: Option<crate::slices::SliceReport>,
}

/// Fits `params` on `x`, `y` (the training rows or a share of them) and scores the validation
/// rows.
pub(crate) fn fit_and_evaluate(
    data: &Prepared,
    params: &Params,
    x: &Encoded,
    y: &[u8],
    ctx: &FitContext,
) -> Result<Fit, RunError> {
    let t = Instant::now();
    let fitted = match models::fit(params, x, y, ctx) {
        Ok(f) => f,
        Err(FitError::Cancelled) => return Err(RunError::Cancelled),
        Err(e) => return Err(RunError::Failed(e.to_string())),
    };
    let fit_seconds = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let p = fitted.model.predict_encoded(&data.x_valid);
    let predict_seconds = t.elapsed().as_secs_f64();
    let evaluation = metrics::evaluate(&data.y_valid, &p)
        .map_err(|e| RunError::Failed(format!("evaluating on the validation split: {e}")))?;
    let slices = data
        .slices
        .measure(&data.y_valid, &p, crate::data::spec::THRESHOLD)
        .transpose()
        .map_err(|e| RunError::Failed(format!("measuring the validation slices: {e}")))?;
    Ok(Fit {
        fitted,
        p,
        evaluation,
        fit_seconds,
        predict_seconds,
        train_rows: y.len(),
        slices,
    })
}

/// The run lifecycle in order (prepare, fit, evaluate, write, record), each step a call.
fn run_one(
    store: &mut Store,
    artifacts_dir: &Path,
    data: &Prepared,
    job: &Job,
    id: &str,
    events: &Sender<Event>,
    cancel: &AtomicBool,
) -> Result<Outcome, RunError> {
    let events = std::sync::Mutex::new(events.clone());
    let progress = |p: FitProgress| {
        if let Ok(tx) = events.lock() {
            let _ = tx.send(Event::Progress {
                run_id: id.to_string(),
                progress: p,
            });
        }
    };
    let ctx = FitContext {
        seed: data.seed,
        cancel,
        progress: &progress,
    };
    let fit = fit_and_evaluate(data, &job.params, &data.x_train, &data.y_train, &ctx)?;
    record(store, artifacts_dir, data, job, id, fit, Vec::new())
}

/// Writes a fit's bundle and records the run as finished, with `extra` metrics (key, step,
/// value) beside the evaluation's.
pub(crate) fn record(
    store: &mut Store,
    artifacts_dir: &Path,
    data: &Prepared,
    job: &Job,
    id: &str,
    fit: Fit,
    extra: Vec<(String, i64, f64)>,
) -> Result<Outcome, RunError> {
    let Fit {
        fitted,
        p,
        evaluation,
        fit_seconds,
        predict_seconds,
        train_rows,
        slices,
    } = fit;
    let feature_names = data.pipeline.feature_names();
    let bundle = Bundle {
        format: BUNDLE_FORMAT,
        staytrack_version: env!("CARGO_PKG_VERSION").to_string(),
        run_id: id.to_string(),
        run_name: job.name.clone(),
        created_at: crate::util::now_ms(),
        spec: data.spec.clone(),
        pipeline: data.pipeline.clone(),
        params: job.params.clone(),
        model: fitted.model,
        data: DataFingerprint {
            path: data.path.display().to_string(),
            sha256: data.sha256.clone(),
            rows: data.rows,
            train_rows,
            valid_rows: data.y_valid.len(),
            valid_fraction: data.valid_fraction,
            seed: data.seed,
        },
        profile: data.profile.clone(),
        prediction_profile: Some(ColumnProfile::numeric(PREDICTION_COLUMN, &p)),
        validation: Some(crate::bundle::ValidationSet {
            id_column: data.valid_id_column.clone(),
            ids: data.valid_ids.clone(),
            labels: data.y_valid.clone(),
            probabilities: p.clone(),
        }),
        metrics: evaluation.clone(),
        feature_names: feature_names.clone(),
        importance: fitted.importance.clone(),
        feature_means: Some(crate::explain::feature_means(&data.x_train)),
        layout: Default::default(),
    };
    let (bundle_path, sha, bytes) = bundle.save(artifacts_dir)?;
    let mut rec = RunRecord::default();
    for (k, v) in evaluation.scalars() {
        rec.metrics.push((k.to_string(), 0, v));
    }
    rec.metrics
        .push((Metric::FitSeconds.key().into(), 0, fit_seconds));
    rec.metrics
        .push(("predict_seconds".into(), 0, predict_seconds));
    for (k, step, v) in &fitted.history {
        rec.metrics.push((k.to_string(), *step, *v));
    }
    rec.metrics.extend(extra);
    rec.curves
        .push((CurveKind::Roc.key().into(), json(&evaluation.roc)));
    rec.curves
        .push((CurveKind::Pr.key().into(), json(&evaluation.pr)));
    rec.curves.push((
        CurveKind::Calibration.key().into(),
        json(&evaluation.calibration),
    ));
    rec.curves.push((
        CurveKind::Confusion.key().into(),
        json(&evaluation.confusion),
    ));
    rec.curves.push((
        CurveKind::ConfusionBest.key().into(),
        json(&evaluation.confusion_best),
    ));
    let mut importance: Vec<(String, f64)> = feature_names
        .into_iter()
        .zip(fitted.importance)
        .filter(|(_, v)| *v > 0.0)
        .collect();
    importance.sort_by(|a, b| b.1.total_cmp(&a.1));
    rec.curves
        .push((CurveKind::Importance.key().into(), json(&importance)));
    if let Some(s) = &slices {
        rec.curves
            .push((crate::slices::REPORT_CURVE.into(), json(s)));
        rec.curves.push((
            crate::slices::ROWS_CURVE.into(),
            json(&data.slices.groupings),
        ));
    }
    rec.artifacts.push(ArtifactRow {
        name: "bundle".into(),
        path: bundle_path.display().to_string(),
        sha256: sha,
        bytes: bytes as i64,
    });
    store
        .finish_run(id, &rec)
        .map_err(|e| RunError::Failed(e.to_string()))?;
    Ok(Outcome {
        run_id: id.to_string(),
        name: job.name.clone(),
        family: job.params.family,
        evaluation,
        fit_seconds,
        bundle_path,
    })
}

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

/// Jobs from a sweep file (TOML): one table per family, each key a value or a list of values;
/// every combination becomes a run.
///
/// ```toml
/// [gbdt]
/// learning_rate = [0.05, 0.1]
/// max_leaves = [15, 31]
/// ```
pub fn sweep_jobs(text: &str, file: &Path, base_name: Option<&str>) -> anyhow::Result<Vec<Job>> {
    let doc: toml::Table =
        toml::from_str(text).with_context(|| format!("{}: not valid TOML", file.display()))?;
    let mut jobs = Vec::new();
    for (fam, table) in &doc {
        let family = Family::parse(fam).with_context(|| {
            format!(
                "{}: unknown family [{fam}] (use lr, tree, forest or gbdt)",
                file.display()
            )
        })?;
        let table = table.as_table().with_context(|| {
            format!("{}: [{fam}] must be a table of parameters", file.display())
        })?;
        let mut grid: Vec<Vec<(String, String)>> = vec![Vec::new()];
        for (key, value) in table {
            let values: Vec<String> = match value {
                toml::Value::Array(a) => a.iter().map(toml_scalar).collect::<Option<_>>(),
                v => toml_scalar(v).map(|s| vec![s]),
            }
            .with_context(|| {
                format!("{}: [{fam}] {key}: values must be numbers", file.display())
            })?;
            anyhow::ensure!(
                !values.is_empty(),
                "{}: [{fam}] {key}: empty list",
                file.display()
            );
            grid = grid
                .into_iter()
                .flat_map(|combo| {
                    values.iter().map(move |v| {
                        let mut c = combo.clone();
                        c.push((key.clone(), v.clone()));
                        c
                    })
                })
                .collect();
        }
        for combo in grid {
            let params =
                Params::resolve(family, &combo).with_context(|| format!("{}", file.display()))?;
            let label = combo
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",");
            let name = match base_name {
                Some(b) => format!("{b}-{family}"),
                None => family.name().to_string(),
            };
            let name = if label.is_empty() {
                name
            } else {
                format!("{name}[{label}]")
            };
            jobs.push(Job { name, params });
        }
    }
    anyhow::ensure!(
        !jobs.is_empty(),
        "{}: the sweep defines no runs",
        file.display()
    );
    Ok(jobs)
}

fn toml_scalar(v: &toml::Value) -> Option<String> {
    match v {
        toml::Value::Integer(i) => Some(i.to_string()),
        toml::Value::Float(f) => Some(f.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweeps_expand_to_every_combination() {
        let jobs = sweep_jobs(
            "[gbdt]\nlearning_rate = [0.05, 0.1]\nmax_leaves = [15, 31, 63]\n[lr]\nc = 0.5\n",
            Path::new("s.toml"),
            None,
        )
        .unwrap();
        assert_eq!(jobs.len(), 7);
        assert!(jobs
            .iter()
            .any(|j| j.name == "gbdt[learning_rate=0.05,max_leaves=63]"));
        assert_eq!(
            jobs.iter()
                .filter(|j| j.params.family == Family::Lr)
                .count(),
            1
        );
        let e = sweep_jobs("[svm]\nc = 1\n", Path::new("s.toml"), None).unwrap_err();
        assert!(format!("{e:#}").contains("unknown family [svm]"));
        let e = sweep_jobs("[gbdt]\neta = [1]\n", Path::new("s.toml"), None).unwrap_err();
        assert!(format!("{e:#}").contains("no parameter 'eta'"), "{e:#}");
        let e = sweep_jobs(
            "[gbdt]\nlearning_rate = \"fast\"\n",
            Path::new("s.toml"),
            None,
        )
        .unwrap_err();
        assert!(format!("{e:#}").contains("values must be numbers"));
    }
}
