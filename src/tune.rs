//! `staytrack tune`: Hyperband over each family's search space within a time budget.
//!
//! A trial is one sampled parameter set. Successive halving fits every trial of a bracket on a
//! share of the training rows, keeps the best `1/eta` and fits those on `eta` times more rows,
//! up to all of them; Hyperband runs brackets that start at different shares, so a space where
//! small fits mislead still gets full fits. Every trial is one run of the sweep, recorded when
//! it ends: at the top rung, stopped early by a better trial, or stopped by the budget. Its
//! ROC AUC at each rung is kept as the run's `rung_roc_auc` history.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::compare::{self, Outcome};
use crate::config::Config;
use crate::data::rng::Rng;
use crate::models::{Family, FitContext, Params};
use crate::tracking::{NewRun, RunStatus, RunSummary, Store};
use crate::train::{self, Fit, Job, Prepared, RunError};

mod space;
pub use space::{
    check_space, default_space, load_spaces, sample, Dim, DimProblem, Space, SpaceError,
};

#[derive(Debug, Clone)]
pub struct TuneOptions {
    pub families: Vec<Family>,
    pub budget: Duration,
    pub space: Option<PathBuf>,
    pub data: PathBuf,
    pub seed: u64,
    pub valid_fraction: f64,
    /// Each rung keeps the best `1/eta` of its trials and gives them `eta` times the rows.
    pub eta: usize,
    /// The fewest training rows the lowest rung fits on.
    pub min_rung_rows: usize,
    pub name: Option<String>,
}

/// What the tuner reports as it works.
#[derive(Debug, Clone)]
pub enum TuneEvent {
    Bracket {
        family: Family,
        trials: usize,
        rungs: usize,
    },
    Evaluated {
        family: Family,
        trial: usize,
        rung: usize,
        rows: usize,
        roc_auc: f64,
    },
    Recorded {
        trial: Trial,
    },
}

/// A trial as the sweep records it.
#[derive(Debug, Clone, Serialize)]
pub struct Trial {
    pub run_id: String,
    pub name: String,
    pub family: Family,
    pub params: BTreeMap<String, f64>,
    /// The last rung it was fitted at (0 = fewest rows).
    pub rung: usize,
    pub train_rows: usize,
    pub roc_auc: f64,
    /// (training rows, ROC AUC) at each rung it reached.
    pub history: Vec<(usize, f64)>,
    /// Stopped before the top rung of its bracket because better trials went on.
    pub early_stopped: bool,
    /// Stopped because the budget ran out.
    pub budget_stopped: bool,
}

/// The sweep's outcome for one family.
#[derive(Debug, Clone, Serialize)]
pub struct FamilyResult {
    pub family: Family,
    pub best: Option<Trial>,
    /// The family's default run on the same split (found in the store, or trained first).
    pub default_run: Option<String>,
    /// The best trial against the default run.
    pub against_default: Option<Outcome>,
    /// Spearman's ρ of each searched parameter with ROC AUC, and how many fits it is over.
    pub importance: Importance,
}

/// Spearman's ρ of each searched parameter with ROC AUC, and how many fits it is over,
/// strongest first.
pub type Importance = Vec<(String, f64, usize)>;

#[derive(Debug, Clone, Serialize)]
pub struct TuneReport {
    pub sweep: String,
    pub budget_seconds: f64,
    pub elapsed_seconds: f64,
    pub trials: Vec<Trial>,
    pub families: Vec<FamilyResult>,
}

/// The param key that names a trial run's sweep.
pub const SWEEP_KEY: &str = "sweep";
/// The params a trial run carries beside its model's.
pub const TRIAL_KEYS: [&str; 6] = [
    SWEEP_KEY,
    "trial",
    "rung",
    "train_rows",
    "stopped",
    "valid_fraction",
];
/// A trial's ROC AUC and training rows at each rung (metric step = rung).
const RUNG_AUC: &str = "rung_roc_auc";
const RUNG_ROWS: &str = "rung_rows";

/// Runs the sweep; `events` hears every fit.
pub fn tune(
    store: &mut Store,
    cfg: &Config,
    opts: &TuneOptions,
    events: &dyn Fn(TuneEvent),
) -> anyhow::Result<TuneReport> {
    tune_until(store, cfg, opts, events, &AtomicBool::new(false))
}

/// `tune`, ended early when `stop` is set (a front end's cancel): the sweep stops as when its
/// budget runs out, fits in flight included, and reports the trials recorded so far.
pub fn tune_until(
    store: &mut Store,
    cfg: &Config,
    opts: &TuneOptions,
    events: &dyn Fn(TuneEvent),
    stop: &AtomicBool,
) -> anyhow::Result<TuneReport> {
    anyhow::ensure!(opts.eta >= 2, "--eta must be 2 or more");
    anyhow::ensure!(!opts.families.is_empty(), "no family to tune");
    let spaces = load_spaces(cfg, opts.space.as_deref(), &opts.families)?;
    let start = Instant::now();
    let deadline = start + opts.budget;
    let spec = crate::data::DatasetSpec::of_workspace(cfg)?;
    let data = train::prepare_sliced(
        &opts.data,
        &spec,
        &crate::slices::SliceSettings::load(cfg, &spec)?,
        opts.seed,
        opts.valid_fraction,
    )?;
    let sweep = opts.name.clone().unwrap_or_else(|| {
        format!(
            "tune-{}",
            crate::util::format_ms(crate::util::now_ms()).replace([' ', ':', '-'], "")
        )
    });
    // The budget stops a fit in flight, not only the next one.
    let cancel = AtomicBool::new(false);
    let done = AtomicBool::new(false);
    let mut trials = Vec::new();
    let mut results = Vec::new();
    std::thread::scope(|scope| -> anyhow::Result<()> {
        scope.spawn(|| {
            while !done.load(Ordering::Relaxed) {
                if Instant::now() >= deadline || stop.load(Ordering::Relaxed) {
                    cancel.store(true, Ordering::Relaxed);
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        let res = (|| -> anyhow::Result<()> {
            let n = opts.families.len() as u32;
            for (i, f) in opts.families.iter().enumerate() {
                // Each family gets its share of what is left.
                let now = Instant::now();
                let left = deadline.saturating_duration_since(now);
                let family_deadline = now + left / (n - i as u32);
                let mut rng = Rng::derive(opts.seed, 0x7475_6e65 + i as u64);
                let mut run = FamilySweep {
                    store: &mut *store,
                    cfg,
                    data: &data,
                    sweep: &sweep,
                    family: *f,
                    space: &spaces[f],
                    cancel: &cancel,
                    deadline: family_deadline,
                    eta: opts.eta,
                    min_rung_rows: opts.min_rung_rows,
                    events,
                    trials: Vec::new(),
                    next: 0,
                };
                let default_run = run.default_run()?;
                run.hyperband(&mut rng)?;
                let family_trials = std::mem::take(&mut run.trials);
                results.push(summarise(
                    store,
                    cfg,
                    *f,
                    &spaces[f],
                    &family_trials,
                    default_run,
                ));
                trials.extend(family_trials);
            }
            Ok(())
        })();
        done.store(true, Ordering::Relaxed);
        res
    })?;
    Ok(TuneReport {
        sweep,
        budget_seconds: opts.budget.as_secs_f64(),
        elapsed_seconds: start.elapsed().as_secs_f64(),
        trials,
        families: results,
    })
}

/// One family's search.
struct FamilySweep<'a> {
    store: &'a mut Store,
    cfg: &'a Config,
    data: &'a Prepared,
    sweep: &'a str,
    family: Family,
    space: &'a Space,
    cancel: &'a AtomicBool,
    deadline: Instant,
    eta: usize,
    min_rung_rows: usize,
    events: &'a dyn Fn(TuneEvent),
    trials: Vec<Trial>,
    /// The last trial number given.
    next: usize,
}

/// A trial being searched: its parameters, its last fit, its ROC AUC per rung.
struct Live {
    number: usize,
    params: Params,
    fit: Option<Fit>,
    /// (training rows, ROC AUC) per rung.
    history: Vec<(usize, f64)>,
}

/// The fewest training rows the lowest rung fits on unless told otherwise: fewer, and the
/// ranking of trials says more about small data than about the space.
pub const MIN_RUNG_ROWS: usize = 20_000;

impl FamilySweep<'_> {
    fn out_of_time(&self) -> bool {
        Instant::now() >= self.deadline || self.cancel.load(Ordering::Relaxed)
    }

    fn bump(&mut self) -> usize {
        self.next += 1;
        self.next
    }

    /// The family's default run on this split: found in the store, or trained now (and then
    /// part of the sweep).
    fn default_run(&mut self) -> anyhow::Result<Option<String>> {
        let defaults = Params::defaults(self.family);
        if let Some(r) = self
            .store
            .list_runs()?
            .into_iter()
            .find(|r| is_default_on(r, &defaults, self.data))
        {
            return Ok(Some(r.id));
        }
        let live = Live {
            number: self.bump(),
            params: defaults,
            fit: None,
            history: Vec::new(),
        };
        let rows: Vec<usize> = (0..self.data.y_train.len()).collect();
        let (mut fitted, _) = self.fit_rung(vec![live], 0, &rows)?;
        match fitted.pop() {
            Some(l) => Ok(Some(self.record(l, 0, Stop::Default)?.run_id)),
            None => Ok(None),
        }
    }

    /// Fits every trial of a rung on `rows` of the training rows, as many at once as there
    /// are cores (a fit on a share of the rows keeps one core busy at most). Returns the
    /// trials fitted and those the budget stopped, each in the order given.
    fn fit_rung(
        &mut self,
        live: Vec<Live>,
        rung: usize,
        rows: &[usize],
    ) -> anyhow::Result<(Vec<Live>, Vec<Live>)> {
        use rayon::prelude::*;
        if self.out_of_time() {
            return Ok((Vec::new(), live));
        }
        let data = self.data;
        let cancel = self.cancel;
        let subset;
        let (x, y) = if rows.len() == data.y_train.len() {
            (&data.x_train, data.y_train.clone())
        } else {
            subset = data.x_train.take(rows);
            (&subset, rows.iter().map(|&i| data.y_train[i]).collect())
        };
        let results: Vec<(Live, Result<Fit, RunError>)> = live
            .into_par_iter()
            .map(|l| {
                let progress = |_| {};
                let ctx = FitContext {
                    seed: data.seed,
                    cancel,
                    progress: &progress,
                };
                let r = train::fit_and_evaluate(data, &l.params, x, &y, &ctx);
                (l, r)
            })
            .collect();
        let (mut fitted, mut stopped) = (Vec::new(), Vec::new());
        for (mut l, r) in results {
            match r {
                Ok(fit) => {
                    let auc = fit.evaluation.roc_auc;
                    l.history.push((rows.len(), auc));
                    l.fit = Some(fit);
                    (self.events)(TuneEvent::Evaluated {
                        family: self.family,
                        trial: l.number,
                        rung,
                        rows: rows.len(),
                        roc_auc: auc,
                    });
                    fitted.push(l);
                }
                Err(RunError::Cancelled) => stopped.push(l),
                Err(RunError::Failed(why)) => {
                    anyhow::bail!("{} trial {}: {why}", self.family, l.number)
                }
            }
        }
        Ok((fitted, stopped))
    }

    /// Hyperband: brackets from the fewest rows to all of them, round and round, until the
    /// budget is spent.
    fn hyperband(&mut self, rng: &mut Rng) -> anyhow::Result<()> {
        let n = self.data.y_train.len();
        let eta = self.eta;
        // Rungs: all rows, 1/eta of them, 1/eta², ... while the smallest keeps enough rows.
        let mut s_max = 0;
        while s_max < 4 && n / eta.pow(s_max as u32 + 1) >= self.min_rung_rows.max(1) {
            s_max += 1;
        }
        // One seeded order of the training rows: a rung's rows are its first share, so every
        // rung holds the rows of the rungs below it.
        let mut order: Vec<usize> = (0..n).collect();
        rng.shuffle(&mut order);
        let mut s = s_max;
        while !self.out_of_time() {
            let count =
                ((s_max + 1) as f64 / (s + 1) as f64 * eta.pow(s as u32) as f64).ceil() as usize;
            (self.events)(TuneEvent::Bracket {
                family: self.family,
                trials: count,
                rungs: s + 1,
            });
            let mut live: Vec<Live> = (0..count)
                .map(|_| Live {
                    number: self.bump(),
                    params: sample(self.family, self.space, rng),
                    fit: None,
                    history: Vec::new(),
                })
                .collect();
            for i in 0..=s {
                let rows = &order[..(n / eta.pow((s - i) as u32)).max(1)];
                let (mut fitted, stopped) = self.fit_rung(std::mem::take(&mut live), i, rows)?;
                for l in stopped {
                    // The budget ran out first: kept at the rung it reached, if any.
                    if l.fit.is_some() {
                        let rung = l.history.len() - 1;
                        self.record(l, rung, Stop::Budget)?;
                    }
                }
                let last = |l: &Live| l.history.last().map_or(f64::NEG_INFINITY, |h| h.1);
                fitted.sort_by(|a, b| last(b).total_cmp(&last(a)));
                if i == s || self.out_of_time() {
                    let stop = if i == s { Stop::Top } else { Stop::Budget };
                    for l in fitted {
                        self.record(l, i, stop)?;
                    }
                    break;
                }
                let keep = (fitted.len() / eta).max(1);
                for l in fitted.split_off(keep) {
                    self.record(l, i, Stop::Early)?;
                }
                live = fitted;
            }
            s = if s == 0 { s_max } else { s - 1 };
        }
        Ok(())
    }

    /// Records a trial's last fit as a finished run of the sweep.
    fn record(&mut self, mut live: Live, rung: usize, stop: Stop) -> anyhow::Result<Trial> {
        let fit = live.fit.take().expect("a recorded trial has a fit");
        let name = format!("{}-{}-{:02}", self.sweep, self.family, live.number);
        let mut params = live.params.as_strings();
        params.push((
            "valid_fraction".into(),
            format!("{}", self.data.valid_fraction),
        ));
        params.push((SWEEP_KEY.into(), self.sweep.to_string()));
        params.push(("trial".into(), live.number.to_string()));
        params.push(("rung".into(), rung.to_string()));
        params.push(("train_rows".into(), fit.train_rows.to_string()));
        params.push(("stopped".into(), stop.key().into()));
        debug_assert!(TRIAL_KEYS
            .iter()
            .all(|k| params.iter().any(|(p, _)| p == k)));
        let id = self.store.create_run(&NewRun {
            name: name.clone(),
            family: self.family.name().to_string(),
            params,
            seed: Some(self.data.seed),
            data_path: Some(self.data.path.display().to_string()),
            data_sha256: Some(self.data.sha256.clone()),
            data_rows: Some(self.data.rows),
        })?;
        self.store.set_status(&id, RunStatus::Running, None)?;
        let trial = Trial {
            run_id: id.clone(),
            name: name.clone(),
            family: self.family,
            params: live.params.values.clone(),
            rung,
            train_rows: fit.train_rows,
            roc_auc: fit.evaluation.roc_auc,
            history: live.history.clone(),
            early_stopped: stop == Stop::Early,
            budget_stopped: stop == Stop::Budget,
        };
        let mut extra: Vec<(String, i64, f64)> = Vec::new();
        for (i, (rows, auc)) in live.history.iter().enumerate() {
            extra.push((RUNG_AUC.to_string(), i as i64, *auc));
            extra.push((RUNG_ROWS.to_string(), i as i64, *rows as f64));
        }
        let job = Job {
            name,
            params: live.params,
        };
        if let Err(e) = train::record(
            self.store,
            &self.cfg.artifacts_dir,
            self.data,
            &job,
            &id,
            fit,
            extra,
        ) {
            let why = match e {
                RunError::Failed(why) => why,
                RunError::Cancelled => "cancelled".into(),
            };
            self.store.set_status(&id, RunStatus::Failed, Some(&why))?;
            anyhow::bail!("recording {}: {why}", job.name);
        }
        (self.events)(TuneEvent::Recorded {
            trial: trial.clone(),
        });
        if stop != Stop::Default {
            self.trials.push(trial.clone());
        }
        Ok(trial)
    }
}

/// How a trial ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// Fitted at the top rung of its bracket (all the training rows).
    Top,
    /// Better trials went on to the next rung.
    Early,
    /// The budget ran out.
    Budget,
    /// The family's default parameters on all rows: the sweep's yardstick.
    Default,
}

impl Stop {
    fn key(self) -> &'static str {
        match self {
            Stop::Top => "no",
            Stop::Early => "early",
            Stop::Budget => "budget",
            Stop::Default => "default",
        }
    }
}

/// Whether `r` is a finished run of `defaults`' family with its default parameters, on a file
/// of the same size, seed and validation share as `data`.
fn is_default_on(r: &RunSummary, defaults: &Params, data: &Prepared) -> bool {
    // A trial on a share of the rows is not the default run, whatever its parameters.
    let whole = !r.params.contains_key(SWEEP_KEY)
        || r.params.get("stopped").map(String::as_str) == Some("default");
    whole
        && r.status == RunStatus::Finished
        && r.family == defaults.family
        && r.seed == Some(data.seed as i64)
        && r.params.get("valid_fraction").map(String::as_str)
            == Some(format!("{}", data.valid_fraction).as_str())
        && defaults
            .as_strings()
            .iter()
            .all(|(k, v)| r.params.get(k) == Some(v))
        // The digest is checked when the two are paired; the row count rules most out here.
        && r.data_rows == Some(data.rows as i64)
}

/// The best trial, its paired test against the default run, and parameter importance.
fn summarise(
    store: &Store,
    cfg: &Config,
    family: Family,
    space: &Space,
    trials: &[Trial],
    default_run: Option<String>,
) -> FamilyResult {
    let best = trials
        .iter()
        .filter(|t| t.roc_auc.is_finite())
        .max_by(|a, b| a.roc_auc.total_cmp(&b.roc_auc))
        .cloned();
    let against_default = match (&best, &default_run) {
        (Some(b), Some(d)) => match (store.get_run(d), store.get_run(&b.run_id)) {
            (Ok(base), Ok(run)) => compare::compare(
                store,
                &cfg.artifacts_dir,
                &base,
                &[run],
                crate::score::THRESHOLD,
            )
            .ok()
            .and_then(|mut v| v.pop()),
            _ => None,
        },
        _ => None,
    };
    FamilyResult {
        family,
        best,
        default_run,
        against_default,
        importance: importance(&searched(space), trials),
    }
}

/// The parameters a space searches (those not fixed).
fn searched(space: &Space) -> Vec<String> {
    space
        .iter()
        .filter(|(_, d)| !matches!(d, Dim::Fixed(_)))
        .map(|(k, _)| k.clone())
        .collect()
}

/// A stored sweep: its trials (from their runs), grouped by family, best first, with
/// parameter importance over the parameters that vary between trials.
#[derive(Debug, Clone, Serialize)]
pub struct SweepSummary {
    pub sweep: String,
    pub families: Vec<(Family, Vec<Trial>, Importance)>,
}

/// The sweep `sweep` as the store keeps it; None when no run belongs to it.
pub fn sweep_summary(store: &Store, sweep: &str) -> anyhow::Result<Option<SweepSummary>> {
    let runs: Vec<RunSummary> = store
        .list_runs()?
        .into_iter()
        .filter(|r| r.status == RunStatus::Finished)
        .filter(|r| r.params.get(SWEEP_KEY).map(String::as_str) == Some(sweep))
        .filter(|r| r.params.get("stopped").map(String::as_str) != Some("default"))
        .collect();
    if runs.is_empty() {
        return Ok(None);
    }
    let mut by_family: BTreeMap<Family, Vec<Trial>> = BTreeMap::new();
    for r in &runs {
        let aucs = store.metric_history(&r.id, RUNG_AUC)?;
        let rows = store.metric_history(&r.id, RUNG_ROWS)?;
        let history = aucs
            .iter()
            .zip(&rows)
            .map(|(a, n)| (n.1 as usize, a.1))
            .collect();
        let num = |k: &str| {
            r.params
                .get(k)
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(0)
        };
        let stopped = r.params.get("stopped").map(String::as_str).unwrap_or("no");
        by_family.entry(r.family).or_default().push(Trial {
            run_id: r.id.clone(),
            name: r.name.clone(),
            family: r.family,
            params: r
                .family
                .specs()
                .iter()
                .filter_map(|s| Some((s.key.to_string(), r.params.get(s.key)?.parse().ok()?)))
                .collect(),
            rung: num("rung"),
            train_rows: num("train_rows"),
            roc_auc: r.metrics.get("roc_auc").copied().unwrap_or(f64::NAN),
            history,
            early_stopped: stopped == "early",
            budget_stopped: stopped == "budget",
        });
    }
    let families = by_family
        .into_iter()
        .map(|(f, mut trials)| {
            trials.sort_by(|a, b| b.roc_auc.total_cmp(&a.roc_auc));
            let varying: Vec<String> = f
                .specs()
                .iter()
                .map(|s| s.key.to_string())
                .filter(|k| {
                    let first = trials[0].params.get(k);
                    trials.iter().any(|t| t.params.get(k) != first)
                })
                .collect();
            let imp = importance(&varying, &trials);
            (f, trials, imp)
        })
        .collect();
    Ok(Some(SweepSummary {
        sweep: sweep.to_string(),
        families,
    }))
}

/// Spearman's ρ of each searched parameter with ROC AUC, over the fits on the number of rows
/// most trials were fitted on (the largest such, on a tie): a fit on a ninth of the rows is
/// not comparable with one on all of them. Strongest first.
pub fn importance(keys: &[String], trials: &[Trial]) -> Vec<(String, f64, usize)> {
    let mut by_rows: BTreeMap<usize, Vec<(&Trial, f64)>> = BTreeMap::new();
    for t in trials {
        for (rows, auc) in &t.history {
            by_rows.entry(*rows).or_default().push((t, *auc));
        }
    }
    let Some((_, group)) = by_rows.iter().max_by_key(|(rows, g)| (g.len(), **rows)) else {
        return Vec::new();
    };
    if group.len() < 3 {
        return Vec::new();
    }
    let metric: Vec<f64> = group.iter().map(|(_, a)| *a).collect();
    let mut out: Vec<(String, f64, usize)> = keys
        .iter()
        .map(|k| {
            let values: Vec<f64> = group
                .iter()
                .map(|(t, _)| t.params.get(k).copied().unwrap_or(f64::NAN))
                .collect();
            (
                k.clone(),
                crate::metrics::spearman(&values, &metric),
                group.len(),
            )
        })
        .collect();
    // Strongest first; a parameter constant over the group (ρ undefined) last.
    out.sort_by(|a, b| {
        let key = |x: f64| if x.is_nan() { -1.0 } else { x.abs() };
        key(b.1).total_cmp(&key(a.1))
    });
    out
}
