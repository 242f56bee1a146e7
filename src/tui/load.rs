//! What the screens read from the store: the run list (brief), the registry, the runs on
//! Compare, one run in full, and the first state.

use super::app::{App, Details, Registry};
use crate::config::Config;
use crate::drift::monitor::StoredDrift;
use crate::metrics::Metric;
use crate::tracking::Store;

use crate::report::curve as parse_curve;
use crate::tracking::CurveKind;

/// The metrics the runs table, its sorts and the promotion question read (the fit time for a
/// trial's run time); Compare and the details view load a run whole.
pub const LIST_METRICS: [Metric; 6] = [
    Metric::RocAuc,
    Metric::PrAuc,
    Metric::F1,
    Metric::LogLoss,
    Metric::Accuracy,
    Metric::FitSeconds,
];

/// Every run, with the metrics the lists show.
pub fn list_runs(store: &Store) -> anyhow::Result<Vec<crate::tracking::RunSummary>> {
    Ok(store.list_runs_brief(&LIST_METRICS.map(Metric::key))?)
}

/// Reads the registry for the Registry screen, keeping its cursor where it was.
pub fn load_registry(store: &Store, cursor: usize) -> anyhow::Result<Registry> {
    Ok(Registry {
        versions: store.model_versions()?,
        events: store.alias_events(None, 200)?,
        cursor,
    })
}

/// Loads the selected runs' curves when the selection changed; runs already loaded are kept.
pub fn load_compare(store: &Store, app: &mut App) -> anyhow::Result<()> {
    let ids: Vec<&String> = app.list.selected.iter().collect();
    let loaded: Vec<&String> = app.compare.runs.iter().map(|c| &c.run.id).collect();
    if ids == loaded {
        return Ok(());
    }
    let mut have: std::collections::HashMap<String, super::app::CompareRun> =
        std::mem::take(&mut app.compare.runs)
            .into_iter()
            .map(|c| (c.run.id.clone(), c))
            .collect();
    let mut out = Vec::new();
    for id in app.list.selected.clone() {
        if let Some(c) = have.remove(&id) {
            out.push(c);
            continue;
        }
        let Ok(run) = store.get_run(&id) else {
            continue;
        };
        let curves = store.curves(&id)?;
        let history = if curves.contains_key(CurveKind::Roc.key()) {
            None
        } else {
            stepped_metric(store, &run)?
        };
        out.push(super::app::CompareRun {
            history,
            run,
            roc: parse_curve(&curves, CurveKind::Roc),
            confusion: parse_curve(&curves, CurveKind::Confusion),
            slices: curves
                .get(crate::slices::REPORT_CURVE)
                .and_then(|j| serde_json::from_str(j).ok()),
        });
    }
    app.compare.runs = out;
    Ok(())
}

/// The metric a run without a ROC curve logged over steps, ROC AUC first, then by name.
fn stepped_metric(
    store: &Store,
    run: &crate::tracking::RunSummary,
) -> anyhow::Result<Option<super::state::History>> {
    let roc = crate::metrics::Metric::RocAuc.key();
    let keys = run
        .metrics
        .keys()
        .filter(|k| k.as_str() == roc)
        .chain(run.metrics.keys().filter(|k| k.as_str() != roc));
    for key in keys {
        let h = store.metric_history(&run.id, key)?;
        if h.len() > 1 {
            return Ok(Some((key.clone(), h)));
        }
    }
    Ok(None)
}

/// Everything the store keeps about one run, for the details view.
pub fn load_details(store: &Store, run_id: &str) -> anyhow::Result<Details> {
    let run = store.get_run(run_id)?;
    let curves = store.curves(run_id)?;
    let mut history = Vec::new();
    for key in run.metrics.keys() {
        let h = store.metric_history(run_id, key)?;
        if h.len() > 1 {
            history.push((key.clone(), h));
        }
    }
    Ok(Details {
        roc: parse_curve(&curves, CurveKind::Roc),
        confusion: parse_curve(&curves, CurveKind::Confusion),
        confusion_best: parse_curve(&curves, CurveKind::ConfusionBest),
        importance: parse_curve(&curves, CurveKind::Importance),
        artifacts: store.artifacts(run_id)?,
        history,
        sweep: match run.params.get(crate::tune::SWEEP_KEY) {
            Some(name) => crate::tune::sweep_summary(store, name)?,
            None => None,
        },
        shap: None,
        scroll: 0,
        max_scroll: Default::default(),
        run: Some(run),
    })
}

/// The file a new run trains on: the workspace's `data/train_data.csv`, or, when that is not
/// there and the workspace has a dataset of its own, the file its spec was read from (`data
/// init` names a spec after its file) in the workspace or its data folder.
fn train_file(cfg: &Config, spec: Option<&crate::data::DatasetSpec>) -> std::path::PathBuf {
    let default = cfg.train_file();
    if default.is_file() {
        return default;
    }
    let Some(spec) = spec.filter(|s| s.name != crate::data::DatasetSpec::hospital().name) else {
        return default;
    };
    let named = format!("{}.csv", spec.name);
    [cfg.workspace.join(&named), cfg.data_dir.join(&named)]
        .into_iter()
        .find(|p| p.is_file())
        .unwrap_or(default)
}

/// Runs the first screen reads; the rest come from a background read (`Tasks::load_runs`).
pub const FIRST_PAGE: usize = 500;

/// Up to this many runs a reload is read in place (milliseconds), so a message and the table it
/// speaks of change in the same frame; a larger store is read in the background.
pub const READ_IN_PLACE: usize = 2_000;

/// Opens the store and builds the first state: the newest `FIRST_PAGE` runs and how many there
/// are in all, the registry, the latest drift report. Its time does not grow with the store.
pub fn open(cfg: &Config) -> anyhow::Result<(Store, App)> {
    let mut store = Store::open(&cfg.db_path)?;
    store.recover_interrupted()?;
    let page = store.list_runs_page(&LIST_METRICS.map(Metric::key), FIRST_PAGE)?;
    let mut app = App::new(page, crate::util::now_ms());
    app.runs_total = store.count_runs()?;
    app.registry = load_registry(&store, app.registry.cursor)?;
    let spec = crate::data::DatasetSpec::of_workspace(cfg).ok();
    let train = train_file(cfg, spec.as_ref());
    app.train_missing = !train.is_file();
    app.train_file = train.display().to_string();
    app.dataset = spec.map(|s| s.name);
    app.workspace = cfg.workspace.clone();
    app.score.path = cfg.test_file().display().to_string();
    if let Some(row) = store.drift_report(None)? {
        if let Ok(d) = serde_json::from_str::<StoredDrift>(&row.report) {
            app.drift.report = Some((row.id, d));
        }
    }
    Ok((store, app))
}
