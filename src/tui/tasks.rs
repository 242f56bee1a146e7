//! Background work (training batches, tunes, scoring, outcomes, drift, exports) on threads of
//! its own, reporting to the event loop over one channel.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;

use super::app::{App, Screen};
use crate::config::Config;
use crate::drift::monitor::{Current, MonitorOptions, StoredDrift, WindowSpec};
use crate::score::{ScoreSummary, Stage};
use crate::tracking::registry::PRODUCTION;
use crate::tracking::{RunStatus, Store};

/// What background tasks send back to the event loop.
pub enum TaskMsg {
    /// Every run, read in the background.
    Runs(Result<Vec<crate::tracking::RunSummary>, String>),
    /// A training event, with the cancel flag of the batch it belongs to.
    Train(crate::train::Event, Arc<AtomicBool>),
    /// Runs finished, and what an automatic sync push said, with the batch's cancel flag.
    TrainEnded(
        Result<(usize, Option<crate::sync::AutoPush>), String>,
        Arc<AtomicBool>,
    ),
    /// A tune's fits and trials as they end, then its report.
    Tune(crate::tune::TuneEvent),
    TuneEnded(Result<crate::tune::TuneReport, String>),
    /// An outcomes file imported: its summary and a warning when shipping them failed.
    Outcomes {
        file: PathBuf,
        res: Result<(crate::feedback::FeedbackSummary, Option<String>), String>,
    },
    Score(Stage),
    Scored(Result<ScoreSummary, String>),
    /// The scored file's first rows for the Score screen's list, of reading `generation`.
    WhyRows {
        generation: u64,
        res: Result<super::why::ScoredRows, String>,
    },
    /// One row explained, of reading `generation`.
    WhyRow {
        generation: u64,
        row: usize,
        why: super::why::RowWhy,
    },
    Drifted(Result<(StoredDrift, i64), String>),
    Monitored(Result<crate::monitor::MonitorReport, String>),
    Exported(Result<Vec<PathBuf>, String>),
    /// A run's mean |SHAP| per column for its details.
    DetailsShap {
        run_id: String,
        res: Result<Option<crate::explain::global::GlobalImportance>, String>,
    },
    /// Paired tests of runs against a baseline, or why there are none.
    Paired {
        baseline: String,
        runs: Vec<String>,
        res: Result<Vec<crate::compare::Outcome>, String>,
        /// Each run's worst slice against the baseline's, when both have slices.
        slices: Vec<(String, crate::slices::compare::SliceDrop)>,
    },
    /// A promotion the `[promote]` policy weighed, with the reason it was asked with.
    Promoted {
        run_id: String,
        alias: &'static str,
        reason: Option<String>,
        res: Result<crate::promote::Promoted, crate::promote::PromoteError>,
    },
}

/// The background tasks: training batches, scoring, drift and exports run on their own threads
/// (CPU-bound work must not hold the event loop) and report over one channel.
pub struct Tasks {
    pub(crate) cfg: Config,
    tx: Sender<TaskMsg>,
    pub rx: Receiver<TaskMsg>,
    /// Cancel flags of the runs this process trains.
    pub(crate) cancels: HashMap<String, Arc<AtomicBool>>,
    pub(crate) score_cancel: Option<Arc<AtomicBool>>,
    /// Training batches still going.
    pub training: usize,
    /// The stop flag of the tune in progress.
    pub(crate) tune_stop: Option<Arc<AtomicBool>>,
    /// The cancel flag of the sweep file's batch in progress.
    pub(crate) sweep_batch: Option<Arc<AtomicBool>>,
    /// An outcomes file is being imported.
    pub(crate) importing: bool,
    /// A read of every run is on its way; `runs_again` asks for one more after it (the store
    /// changed while it ran).
    pub(crate) runs_loading: bool,
    pub(crate) runs_again: bool,
    /// The explaining worker of the last scored file, and the reading it belongs to; dropping
    /// the sender ends the worker.
    why: Option<Sender<usize>>,
    why_generation: u64,
}

impl Tasks {
    pub fn new(cfg: &Config) -> Tasks {
        let (tx, rx) = channel();
        Tasks {
            cfg: cfg.clone(),
            tx,
            rx,
            cancels: HashMap::new(),
            score_cancel: None,
            training: 0,
            tune_stop: None,
            sweep_batch: None,
            importing: false,
            runs_loading: false,
            runs_again: false,
            why: None,
            why_generation: 0,
        }
    }

    /// Reads the first rows of a scored file and lays out the model that scored it for
    /// explaining, on a worker that then explains the rows asked for (`why_row`). Returns the
    /// reading's generation, which its messages carry.
    pub(crate) fn why_rows(&mut self, input: PathBuf, version: i64) -> u64 {
        self.why_generation += 1;
        let generation = self.why_generation;
        let (rtx, rrx) = channel();
        self.why = Some(rtx);
        let (cfg, tx) = (self.cfg.clone(), self.tx.clone());
        std::thread::spawn(
            move || match super::why::Session::load(&cfg, &input, version) {
                Ok((rows, session)) => {
                    let _ = tx.send(TaskMsg::WhyRows {
                        generation,
                        res: Ok(rows),
                    });
                    session.serve(&rrx, |row, why| {
                        let _ = tx.send(TaskMsg::WhyRow {
                            generation,
                            row,
                            why,
                        });
                    });
                }
                Err(e) => {
                    let _ = tx.send(TaskMsg::WhyRows {
                        generation,
                        res: Err(format!("{e:#}")),
                    });
                }
            },
        );
        generation
    }

    /// A run's mean |SHAP| per column on the first rows of the test file, bounded by rows and
    /// time (a forest row costs ~87 ms), for its details.
    pub(crate) fn details_shap(&self, run_id: String) {
        let (cfg, tx) = (self.cfg.clone(), self.tx.clone());
        std::thread::spawn(move || {
            use crate::explain::global;
            let res = Store::open(&cfg.db_path)
                .map_err(anyhow::Error::from)
                .and_then(|store| {
                    global::of_run(
                        &cfg,
                        &store,
                        &run_id,
                        &cfg.test_file(),
                        global::DETAIL_ROWS,
                        global::DETAIL_BUDGET,
                    )
                });
            let _ = tx.send(TaskMsg::DetailsShap {
                run_id,
                res: res.map_err(|e| format!("{e:#}")),
            });
        });
    }

    /// Asks the explaining worker for row `row`.
    pub(crate) fn why_row(&self, row: usize) {
        if let Some(tx) = &self.why {
            let _ = tx.send(row);
        }
    }

    /// Reads every run on its own thread and connection, so a store of any size never holds
    /// the screen; a read asked for while one runs is done once after it.
    pub(crate) fn load_runs(&mut self) {
        if self.runs_loading {
            self.runs_again = true;
            return;
        }
        self.runs_loading = true;
        let (cfg, tx) = (self.cfg.clone(), self.tx.clone());
        std::thread::spawn(move || {
            let res = Store::open(&cfg.db_path)
                .map_err(anyhow::Error::from)
                .and_then(|store| super::list_runs(&store));
            let _ = tx.send(TaskMsg::Runs(res.map_err(|e| format!("{e:#}"))));
        });
    }

    pub fn busy(&self) -> bool {
        self.training > 0
            || self.score_cancel.is_some()
            || self.runs_loading
            || self.tune_stop.is_some()
            || self.importing
    }

    pub(crate) fn train(&mut self, job: super::app::Job) {
        let super::app::Job {
            data,
            name,
            params,
            seed,
            valid_fraction,
        } = job;
        self.batch(
            data,
            seed,
            valid_fraction,
            vec![crate::train::Job { name, params }],
        );
    }

    /// The runs of a sweep file, as one batch on the workspace's split defaults, as
    /// `staytrack train --sweep FILE`; `x` cancels the batch.
    pub(crate) fn sweep(&mut self, data: PathBuf, jobs: Vec<crate::train::Job>) {
        let flag = self.batch(
            data,
            crate::data::DEFAULT_SEED,
            crate::train::DEFAULT_VALID_FRACTION,
            jobs,
        );
        self.sweep_batch = Some(flag);
    }

    /// Trains `jobs` on one split of `data`, one after the other; returns the batch's cancel
    /// flag.
    fn batch(
        &mut self,
        data: PathBuf,
        seed: u64,
        valid_fraction: f64,
        jobs: Vec<crate::train::Job>,
    ) -> Arc<AtomicBool> {
        let (cfg, tx) = (self.cfg.clone(), self.tx.clone());
        let cancel = Arc::new(AtomicBool::new(false));
        let flag = cancel.clone();
        self.training += 1;
        std::thread::spawn(move || {
            let res = (|| -> anyhow::Result<(usize, Option<crate::sync::AutoPush>)> {
                let mut store = Store::open(&cfg.db_path)?;
                let data = if data.is_relative() && !data.exists() {
                    cfg.workspace.join(data)
                } else {
                    data
                };
                let spec = crate::data::DatasetSpec::of_workspace(&cfg)?;
                let prepared = crate::train::prepare_sliced(
                    &data,
                    &spec,
                    &crate::slices::SliceSettings::load(&cfg, &spec)?,
                    seed,
                    valid_fraction,
                )?;
                let (etx, erx) = channel();
                let forward = {
                    let (tx, cancel) = (tx.clone(), cancel.clone());
                    std::thread::spawn(move || {
                        for ev in erx {
                            let _ = tx.send(TaskMsg::Train(ev, cancel.clone()));
                        }
                    })
                };
                let out = crate::train::run_jobs(
                    &mut store,
                    &cfg.artifacts_dir,
                    &prepared,
                    &jobs,
                    &etx,
                    &cancel,
                );
                drop(etx);
                let _ = forward.join();
                let out = out?;
                let ids: Vec<String> = out.iter().map(|o| o.run_id.clone()).collect();
                let synced = if ids.is_empty() {
                    None
                } else {
                    crate::sync::auto_push(&cfg, &ids)
                };
                Ok((out.len(), synced))
            })();
            let _ = tx.send(TaskMsg::TrainEnded(
                res.map_err(|e| format!("{e:#}")),
                cancel,
            ));
        });
        flag
    }

    /// A tune, as `staytrack tune` runs it (the split at its defaults), its events forwarded
    /// as they happen; `x` sets its stop flag.
    pub(crate) fn tune(&mut self, job: super::app::TuneJob) {
        let (cfg, tx) = (self.cfg.clone(), self.tx.clone());
        let stop = Arc::new(AtomicBool::new(false));
        self.tune_stop = Some(stop.clone());
        std::thread::spawn(move || {
            let res = (|| -> anyhow::Result<crate::tune::TuneReport> {
                let mut store = Store::open(&cfg.db_path)?;
                let opts = crate::tune::TuneOptions {
                    families: job.families,
                    budget: std::time::Duration::from_millis(job.budget_ms.max(0) as u64),
                    space: job.space,
                    data: job.data,
                    seed: crate::data::DEFAULT_SEED,
                    valid_fraction: crate::train::DEFAULT_VALID_FRACTION,
                    eta: 3,
                    min_rung_rows: crate::tune::MIN_RUNG_ROWS,
                    name: job.name,
                };
                let events = |e| {
                    let _ = tx.send(TaskMsg::Tune(e));
                };
                crate::tune::tune_until(&mut store, &cfg, &opts, &events, &stop)
            })();
            let _ = tx.send(TaskMsg::TuneEnded(res.map_err(|e| format!("{e:#}"))));
        });
    }

    /// Imports outcomes as `staytrack feedback FILE` does: the spec's id and label columns,
    /// and with a sync bucket, through the outbox, shipped at once when the bucket answers.
    pub(crate) fn outcomes(&mut self, file: PathBuf) {
        let (cfg, tx) = (self.cfg.clone(), self.tx.clone());
        self.importing = true;
        std::thread::spawn(move || {
            let res = (|| -> anyhow::Result<(crate::feedback::FeedbackSummary, Option<String>)> {
                let spec = crate::data::DatasetSpec::of_workspace(&cfg)?;
                let (id, label) = crate::feedback::columns(&spec, None, None)?;
                let mut store = Store::open(&cfg.db_path)?;
                let sync = crate::sync::SyncSettings::load(&cfg)?;
                let outbox = match sync.bucket {
                    Some(_) => Some(store.workspace_replica()?),
                    None => None,
                };
                let s = crate::feedback::load_file(
                    &mut store,
                    &spec,
                    &file,
                    &id,
                    &label,
                    outbox.as_deref(),
                )?;
                let mut warning = None;
                if outbox.is_some() {
                    let shipped = crate::sync::runtime().and_then(|rt| {
                        rt.block_on(async {
                            let r = crate::sync::Remote::connect(&sync).await?;
                            let layout = crate::capture::ship::Layout::of_workspace(
                                &cfg,
                                crate::capture::ship::DEFAULT_ROWS,
                            )?;
                            crate::capture::ship::ship_pending(&mut store, &r, &layout, true, None)
                                .await
                        })
                    });
                    let failed = match shipped {
                        Ok(sh) => sh.failure,
                        Err(e) => Some(format!("{e:#}")),
                    };
                    warning = failed.map(|f| {
                        format!("the outcomes stay in the outbox until `staytrack sync push`: {f}")
                    });
                }
                Ok((s, warning))
            })();
            let _ = tx.send(TaskMsg::Outcomes {
                file,
                res: res.map_err(|e| format!("{e:#}")),
            });
        });
    }

    /// Paired tests of `runs` against `baseline` (a bootstrap takes seconds on a large file).
    pub(crate) fn paired(&self, baseline: String, runs: Vec<String>) {
        let (cfg, tx) = (self.cfg.clone(), self.tx.clone());
        std::thread::spawn(move || {
            let mut slices = Vec::new();
            let res = (|| -> Result<Vec<crate::compare::Outcome>, String> {
                let store = Store::open(&cfg.db_path).map_err(|e| e.to_string())?;
                let base = store.get_run(&baseline).map_err(|e| e.to_string())?;
                let others = runs
                    .iter()
                    .map(|r| store.get_run(r))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| e.to_string())?;
                // Runs without readable slices simply have no worst slice.
                for r in &others {
                    let worst =
                        crate::slices::compare::worst_against(&store, &cfg.artifacts_dir, &base, r);
                    slices.extend(worst.ok().flatten().map(|w| (r.id.clone(), w)));
                }
                crate::compare::compare(
                    &store,
                    &cfg.artifacts_dir,
                    &base,
                    &others,
                    crate::score::THRESHOLD,
                )
                .map_err(|e| e.to_string())
            })();
            let _ = tx.send(TaskMsg::Paired {
                baseline,
                runs,
                res,
                slices,
            });
        });
    }

    /// A promotion the policy guards, weighed on its own thread; `weighed` is the evidence of
    /// a refusal being overridden, so it is not weighed again.
    pub(crate) fn promote(
        &self,
        req: crate::promote::Request,
        run_id: String,
        alias: &'static str,
        weighed: Option<crate::promote::Evidence>,
    ) {
        let (cfg, tx) = (self.cfg.clone(), self.tx.clone());
        std::thread::spawn(move || {
            let res = Store::open(&cfg.db_path)
                .map_err(|e| crate::promote::PromoteError::Registry(e.into()))
                .and_then(|mut store| {
                    crate::promote::promote_weighed(&mut store, &cfg, &req, weighed)
                });
            let _ = tx.send(TaskMsg::Promoted {
                run_id,
                alias,
                reason: req.reason,
                res,
            });
        });
    }

    /// Scores `path` with production; with `log`, its rows also go to the prediction log.
    pub(crate) fn score(&mut self, path: PathBuf, log: bool) {
        let (cfg, tx) = (self.cfg.clone(), self.tx.clone());
        let cancel = Arc::new(AtomicBool::new(false));
        self.score_cancel = Some(cancel.clone());
        std::thread::spawn(move || {
            let progress = |s: Stage| {
                let _ = tx.send(TaskMsg::Score(s));
            };
            let res = crate::score::score_file(
                &cfg,
                &path,
                crate::score::Output::Default,
                crate::score::ScoreOptions {
                    alias: PRODUCTION,
                    threshold: crate::score::THRESHOLD,
                    log,
                },
                &progress,
                &cancel,
            );
            let _ = tx.send(TaskMsg::Scored(res.map_err(|e| format!("{e:#}"))));
        });
    }

    pub(crate) fn drift(&self, current: Option<PathBuf>) {
        let (cfg, tx) = (self.cfg.clone(), self.tx.clone());
        std::thread::spawn(move || {
            // A file given: that file; none: the last day of the server's log, hour by hour.
            let opts = MonitorOptions {
                alias: PRODUCTION.into(),
                reference: None,
                current: match current {
                    Some(path) => Current::File(path),
                    None => Current::Log {
                        window: WindowSpec::Time(3_600_000),
                        since_ms: crate::util::now_ms() - 86_400_000,
                        label: "1h".into(),
                    },
                },
                drift: crate::drift::Options {
                    share: Some(crate::drift::DEFAULT_SHARE),
                    ..Default::default()
                },
                min_rows: crate::drift::monitor::DEFAULT_MIN_ROWS,
            };
            let res = crate::drift::monitor::min_rows_setting(&cfg).and_then(|min_rows| {
                crate::drift::monitor::monitor(&cfg, &MonitorOptions { min_rows, ..opts })
            });
            let _ = tx.send(TaskMsg::Drifted(res.map_err(|e| format!("{e:#}"))));
        });
    }

    /// Reads the prediction log in windows of `window`, with the workspace's thresholds.
    pub(crate) fn monitor(&self, window: &'static str) {
        let (cfg, tx) = (self.cfg.clone(), self.tx.clone());
        std::thread::spawn(move || {
            let res = crate::monitor::MonitorOptions::new(&cfg, window, None)
                .and_then(|o| crate::monitor::monitor(&cfg, &o));
            let _ = tx.send(TaskMsg::Monitored(res.map_err(|e| format!("{e:#}"))));
        });
    }

    /// Writes the charts of what `app` shows, in the workspace's reports/ folder.
    pub(crate) fn export(&self, app: &App) -> Result<(), String> {
        enum What {
            Runs(Vec<crate::tracking::RunSummary>),
            Score(ScoreSummary),
            Drift(StoredDrift),
            Monitor(crate::monitor::MonitorReport),
        }
        let finished = |r: &&crate::tracking::RunSummary| r.status == RunStatus::Finished;
        let what = if let Some(r) = app.details.as_ref().and_then(|d| d.run.clone()) {
            What::Runs(vec![r])
        } else {
            match app.screen {
                // The compared runs in Compare's order, so each keeps its colour in the PNGs.
                Screen::Compare if !app.compare.runs.is_empty() => What::Runs(
                    app.compare
                        .runs
                        .iter()
                        .map(|c| c.run.clone())
                        .filter(|r| r.status == RunStatus::Finished)
                        .collect(),
                ),
                Screen::Runs | Screen::Compare => {
                    let picked: Vec<_> = if app.list.selected.is_empty() {
                        app.current()
                            .into_iter()
                            .filter(finished)
                            .cloned()
                            .collect()
                    } else {
                        app.runs
                            .iter()
                            .filter(|r| app.list.selected.contains(&r.id))
                            .filter(finished)
                            .cloned()
                            .collect()
                    };
                    What::Runs(picked)
                }
                Screen::Registry => What::Runs(
                    app.registry
                        .versions
                        .iter()
                        .filter(|v| !v.aliases.is_empty())
                        .filter_map(|v| app.runs.iter().find(|r| r.id == v.run_id))
                        .filter(finished)
                        .cloned()
                        .collect(),
                ),
                Screen::Score => What::Score(
                    app.score
                        .last
                        .clone()
                        .ok_or("nothing scored yet: Enter scores the file")?,
                ),
                Screen::Drift => What::Drift(
                    app.drift
                        .report
                        .as_ref()
                        .map(|(_, d)| d.clone())
                        .ok_or("no drift report yet: Enter computes one")?,
                ),
                Screen::Monitor => What::Monitor(
                    app.monitor
                        .report
                        .clone()
                        .ok_or("nothing to chart yet: Enter reads the prediction log")?,
                ),
            }
        };
        if let What::Runs(r) = &what {
            if r.is_empty() {
                return Err("no finished run to chart: select runs with Space".into());
            }
        }
        let label = match (&what, app.details.is_some()) {
            (What::Runs(_), true) => "details",
            _ => app.screen.title(),
        }
        .to_lowercase();
        let (cfg, tx) = (self.cfg.clone(), self.tx.clone());
        std::thread::spawn(move || {
            // Each export gets a folder of its own, so no export replaces an earlier one.
            let dir = crate::util::unused_path(&cfg.workspace.join("reports").join(format!(
                "{}-{}",
                crate::util::format_ms(crate::util::now_ms()).replace([' ', ':'], "-"),
                label
            )));
            let res = (|| -> anyhow::Result<Vec<PathBuf>> {
                match what {
                    What::Runs(runs) => {
                        let store = Store::open(&cfg.db_path)?;
                        let runs = runs
                            .iter()
                            .map(|r| store.get_run(&r.id))
                            .collect::<Result<Vec<_>, _>>()?;
                        let spec = crate::data::DatasetSpec::of_workspace(&cfg)?;
                        let charts = crate::report::run_charts(&store, &runs, &spec)?;
                        crate::report::render_runs(&charts, &dir)
                    }
                    What::Score(s) => Ok(vec![crate::report::render_score(&s, &dir)?]),
                    What::Drift(d) => crate::report::render_drift(&d, &dir),
                    What::Monitor(m) => Ok(vec![crate::report::render_monitor(&m, &dir)?]),
                }
            })();
            let _ = tx.send(TaskMsg::Exported(res.map_err(|e| format!("{e:#}"))));
        });
        Ok(())
    }
}
