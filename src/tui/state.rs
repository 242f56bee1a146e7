//! What each screen holds besides the run list: compare, registry, score, drift, details, the
//! status line and pending questions.

use std::cell::Cell;
use std::collections::BTreeSet;

use crate::drift::monitor::StoredDrift;
use crate::monitor::MonitorReport;
use crate::score::ScoreSummary;
use crate::tracking::{AliasEvent, ArtifactRow, ModelVersion, RunSummary};

use super::app::*;

/// A run's time: its wall time, or its fit's when that is longer. A sweep's trial is recorded
/// after its fit, so its wall time is the moment of recording and only `fit_seconds` says how
/// long it took.
pub fn run_time_ms(r: &RunSummary, now: i64) -> Option<i64> {
    let fit = r
        .metrics
        .get(crate::metrics::Metric::FitSeconds.key())
        .map(|s| (s * 1000.0).round() as i64);
    match (r.duration_ms(now), fit) {
        (Some(wall), Some(fit)) => Some(wall.max(fit)),
        (wall, fit) => wall.or(fit),
    }
}

/// A run's details: everything the store keeps about it.
#[derive(Debug, Clone, Default)]
pub struct Details {
    pub run: Option<RunSummary>,
    pub roc: crate::metrics::Curve,
    pub confusion: crate::metrics::Confusion,
    pub confusion_best: crate::metrics::Confusion,
    pub importance: Vec<(String, f64)>,
    pub artifacts: Vec<ArtifactRow>,
    /// Per-step metrics (boosting rounds, iterations), by key.
    pub history: Vec<(String, Vec<(i64, f64)>)>,
    /// The sweep the run is a trial of (`staytrack tune`): every trial, best first, and
    /// parameter importance.
    pub sweep: Option<crate::tune::SweepSummary>,
    /// Each column's mean |SHAP| on a bounded sample, computed in the background once the
    /// details open (None until then; inside, None for a run without a bundle), or why it
    /// could not be.
    pub shap: Option<Result<Option<crate::explain::global::GlobalImportance>, String>>,
    pub scroll: u16,
    /// The furthest the text scrolls at the last drawing's size.
    pub max_scroll: Cell<u16>,
}

/// The Score screen.
#[derive(Debug, Clone, Default)]
pub struct ScoreState {
    pub path: String,
    pub editing: bool,
    /// Progress (0 to 1) while a file is being scored.
    pub running: Option<f64>,
    pub last: Option<ScoreSummary>,
    /// Why the last scoring failed; shown in place of a result.
    pub error: Option<String>,
    /// Scored rows also go to the prediction log (`l`), as `staytrack score --log` does, so
    /// Monitor and outcomes can use them.
    pub log: bool,
    /// The scored file's first rows and the selected row's contributions.
    pub why: super::why::WhyState,
}

/// A tune or a sweep file started from the UI, while it runs: what the Runs screen's progress
/// line shows and what `x` stops.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepProgress {
    /// The sweep's name as typed (or "tune"), or the sweep file.
    pub name: String,
    /// A tune: its time budget (ms), the measure of its progress.
    pub budget_ms: Option<i64>,
    /// A sweep file: how many runs it lists, the measure of its progress.
    pub total: Option<usize>,
    /// When it started (ms), for a tune's time spent.
    pub started: i64,
    /// Trials (a tune) or runs (a sweep file) ended so far.
    pub done: usize,
    /// The best so far: (run name, ROC AUC).
    pub best: Option<(String, f64)>,
    /// A tune: the family of the last bracket begun; a trial of another family is its
    /// default run, the yardstick, not a trial.
    pub bracket: Option<crate::models::Family>,
    /// `x` was confirmed; it ends at its next step.
    pub stopping: bool,
}

impl SweepProgress {
    /// The best so far, as the progress line and the end message say it.
    pub fn best_text(&self) -> String {
        self.best.as_ref().map_or(String::new(), |(name, auc)| {
            format!("; best {name} ROC AUC {auc:.4}")
        })
    }

    /// Counts an ended trial or run, keeping the best.
    pub fn ended(&mut self, name: &str, roc_auc: Option<f64>) {
        self.done += 1;
        if let Some(auc) = roc_auc.filter(|a| a.is_finite()) {
            if self.best.as_ref().is_none_or(|b| auc > b.1) {
                self.best = Some((name.to_string(), auc));
            }
        }
    }
}

/// The Drift screen.
#[derive(Debug, Clone, Default)]
pub struct DriftState {
    /// The report shown and its id in the store.
    pub report: Option<(i64, StoredDrift)>,
    pub cursor: usize,
    /// What is being computed, while it is.
    pub running: Option<String>,
}

/// The window sizes the Monitor screen offers, in the order `w` steps through them.
pub const MONITOR_WINDOWS: [&str; 4] = ["1h", "1d", "10000rows", "1000rows"];

/// The Monitor screen.
#[derive(Debug, Clone, Default)]
pub struct MonitorState {
    pub report: Option<MonitorReport>,
    /// Index into `MONITOR_WINDOWS`.
    pub window: usize,
    /// The alert under the cursor.
    pub cursor: usize,
    pub running: bool,
    /// Why the last read failed (an empty log, a bad `[monitor]`).
    pub error: Option<String>,
    /// An outcomes file is being imported (`o`).
    pub importing: bool,
}

/// Evidence the `[promote]` policy weighed for a refused move, kept with the dialog that
/// offers the override, so overriding does not weigh the rules (seconds each) again. Equal only
/// to itself: one weighing.
#[derive(Debug, Clone)]
pub struct Weighed(pub std::sync::Arc<crate::promote::Evidence>);

impl PartialEq for Weighed {
    fn eq(&self, other: &Weighed) -> bool {
        std::sync::Arc::ptr_eq(&self.0, &other.0)
    }
}

/// A line for the status bar.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub text: String,
    pub error: bool,
}

/// A dialog: a yes/no question, or a notice that any key closes.
#[derive(Debug, Clone, PartialEq)]
pub struct Confirm {
    pub title: String,
    pub lines: Vec<String>,
    /// What confirming does; None for a notice (a refusal), which any key closes, so the key
    /// that closes it never acts on the screen below.
    pub effect: Option<Effect>,
    /// The reason typed into the dialog (promotions and rollbacks), kept with the audit event.
    pub reason: Option<String>,
    /// The lines warn (the candidate is worse than what the alias serves).
    pub warning: bool,
}

impl Confirm {
    /// A question that `y` or Enter answers.
    pub fn question(title: String, lines: Vec<String>, effect: Effect) -> Confirm {
        Confirm {
            title,
            lines,
            effect: Some(effect),
            reason: None,
            warning: false,
        }
    }

    /// A notice that any key closes.
    pub fn notice(title: impl Into<String>, text: impl Into<String>) -> Confirm {
        Confirm {
            title: title.into(),
            lines: vec![text.into(), "any key closes".into()],
            effect: None,
            reason: None,
            warning: false,
        }
    }
}

/// One run on the Compare screen, with what the store keeps beside the summary.
#[derive(Debug, Clone)]
pub struct CompareRun {
    pub run: RunSummary,
    pub roc: crate::metrics::Curve,
    pub confusion: crate::metrics::Confusion,
    /// Its validation rows per slice, when it was trained with `[slices]`.
    pub slices: Option<crate::slices::SliceReport>,
    /// A metric logged over steps (ROC AUC when it was), as (step, value): what a run logged
    /// through the MLflow API shows where a staytrack run shows its ROC curve.
    pub history: Option<History>,
}

/// A metric's name and its values by step.
pub type History = (String, Vec<(i64, f64)>);

/// The registry as the Registry screen shows it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Registry {
    pub versions: Vec<ModelVersion>,
    pub events: Vec<AliasEvent>,
    /// The version under the cursor.
    pub cursor: usize,
}

/// The Runs screen: which runs the table shows, in which order, and what is selected.
pub struct RunList {
    /// Indices into `App::runs`, filtered and sorted: what the table shows.
    pub view: Vec<usize>,
    pub cursor: usize,
    pub selected: BTreeSet<String>,
    pub sort: SortKey,
    pub descending: bool,
    pub filter: String,
    pub filtering: bool,
    /// The first row on screen; the view keeps the cursor visible.
    pub offset: Cell<usize>,
    /// The longest name and family among the listed runs, in characters: measured when the
    /// view changes, so a frame need not measure every run.
    pub widest: (usize, usize),
}

/// The Compare screen.
#[derive(Default)]
pub struct CompareState {
    /// The selected runs' details, in selection order, loaded by the event loop.
    pub runs: Vec<CompareRun>,
    /// The run the deltas are against.
    pub baseline: Option<String>,
    /// Only the params that differ.
    pub diff_only: bool,
    /// The first run column shown (besides the baseline, which always is).
    pub offset: usize,
    /// The largest useful offset at the last drawing's width, so scrolling never moves state
    /// that the screen does not show.
    pub max_offset: std::cell::Cell<usize>,
    /// Paired tests of compared runs against `tested_against` (the baseline), by run id.
    pub tests: std::collections::HashMap<String, crate::compare::Outcome>,
    /// Each run's worst slice against the baseline's, with DeLong's test on its rows, by run id.
    pub slice_tests: std::collections::HashMap<String, crate::slices::compare::SliceDrop>,
    pub tested_against: Option<String>,
    /// Runs whose paired tests are being computed in the background.
    pub testing: BTreeSet<String>,
    /// What the cells against the baseline show (`c`).
    pub cells: CompareCells,
}

/// What Compare's cells show against the baseline, in the order `c` steps through them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CompareCells {
    #[default]
    Deltas,
    /// The deltas' 95 % intervals from the paired tests.
    Intervals,
    /// Each metric's paired test: its name, p-value and interval.
    Tests,
}

impl CompareCells {
    pub fn next(self) -> CompareCells {
        match self {
            CompareCells::Deltas => CompareCells::Intervals,
            CompareCells::Intervals => CompareCells::Tests,
            CompareCells::Tests => CompareCells::Deltas,
        }
    }
}

impl CompareState {
    /// The compared runs that still need a paired test against the baseline, forgetting tests
    /// against an earlier baseline. None when there is no baseline or nothing is missing.
    pub fn untested(&mut self) -> Option<(String, Vec<String>)> {
        let base = self.baseline.clone()?;
        if self.tested_against.as_ref() != Some(&base) {
            self.tests.clear();
            self.slice_tests.clear();
            self.testing.clear();
            self.tested_against = Some(base.clone());
        }
        let missing: Vec<String> = self
            .runs
            .iter()
            .map(|c| c.run.id.clone())
            .filter(|id| *id != base && !self.tests.contains_key(id) && !self.testing.contains(id))
            .collect();
        if missing.is_empty() {
            return None;
        }
        self.testing.extend(missing.iter().cloned());
        Some((base, missing))
    }
}
