//! Carrying out what `update` asks for (store writes here, long work as a background task), and
//! applying what a background task reports.

use std::sync::atomic::Ordering;

use super::app::{App, Effect};
use crate::tracking::Store;

use super::{load::*, tasks::*};

/// Does what `update` asked for: store writes here, long work on a background task.
pub fn apply(
    store: &mut Store,
    app: &mut App,
    tasks: &mut Tasks,
    effect: Effect,
) -> anyhow::Result<()> {
    let actor = || {
        format!(
            "tui:{}",
            crate::tracking::registry::actor().trim_start_matches("cli:")
        )
    };
    match effect {
        Effect::Promote {
            run_id,
            alias,
            reason,
            force,
            weighed,
        } => {
            let req = crate::promote::Request {
                target: crate::promote::Target::Run(run_id.clone()),
                alias: alias.to_string(),
                actor: actor(),
                reason,
                force,
            };
            let weighed = weighed.map(|w| (*w.0).clone());
            match crate::promote::Policy::load(&tasks.cfg) {
                // Weighing reads models and may time predictions: off the event loop.
                Ok(p) if p.guards(alias) => {
                    app.say(if weighed.is_some() {
                        format!("promoting to {alias} past [promote], on the evidence weighed…")
                    } else {
                        format!("weighing the promotion to {alias} by [promote]…")
                    });
                    tasks.promote(req, run_id, alias, weighed);
                }
                _ => {
                    let res = crate::promote::promote(store, &tasks.cfg, &req);
                    on_promoted(app, run_id, alias, req.reason, res);
                    app.registry = load_registry(store, app.registry.cursor)?;
                }
            }
        }
        Effect::Rollback { alias, reason } => {
            let reason = reason.unwrap_or_else(|| "rolled back from the TUI".into());
            match store.rollback_alias(alias, &actor(), Some(&reason)) {
                Ok(m) => app.say(format!(
                    "{alias} rolled back: version {} → {}",
                    m.from_version.map_or("none".into(), |v| v.to_string()),
                    m.to_version
                )),
                Err(e) => app.warn(format!("not rolled back: {e}")),
            }
            app.registry = load_registry(store, app.registry.cursor)?;
        }
        Effect::Delete { run_id } => match store.delete_run(&run_id) {
            Ok(files) => {
                // Only files inside the workspace's artifacts folder, whatever the store says.
                let files = crate::util::remove_within(&tasks.cfg.artifacts_dir, &files);
                app.list.selected.remove(&run_id);
                app.set_runs(list_runs(store)?, crate::util::now_ms());
                app.say(format!(
                    "deleted run …{} and {} file(s)",
                    crate::util::short_id(&run_id, 6),
                    files.len()
                ));
            }
            Err(e) => app.warn(e.to_string()),
        },
        Effect::Cancel { run_id } => match tasks.cancels.get(&run_id) {
            Some(flag) => {
                flag.store(true, Ordering::Relaxed);
                let family = app.runs.iter().find(|r| r.id == run_id).map(|r| r.family);
                app.say(cancelling(family));
            }
            None => app.warn(
                "that run was started by another process; stop it there (Ctrl-C in its terminal)",
            ),
        },
        Effect::Train(job) => {
            app.say(format!(
                "preparing {} for {} ({})…",
                job.data.display(),
                job.name,
                job.params.family
            ));
            tasks.train(job);
        }
        Effect::LoadDetails { run_id } => match load_details(store, &run_id) {
            Ok(d) => app.details = Some(d),
            Err(e) => app.warn(format!("{e:#}")),
        },
        Effect::Score { path } => {
            if tasks.score_cancel.is_some() {
                app.warn("already scoring");
            } else {
                tasks.score(path);
            }
        }
        Effect::CancelScore => {
            if let Some(c) = &tasks.score_cancel {
                c.store(true, Ordering::Relaxed);
            }
        }
        Effect::Drift { current } => tasks.drift(current),
        Effect::Monitor { window } => tasks.monitor(window),
        Effect::Export => match tasks.export(app) {
            Ok(()) => app.say("exporting charts…"),
            Err(e) => app.warn(e),
        },
    }
    Ok(())
}

/// What a cancel does to a run of `family`, in words that stay true: linfa's families fit in one
/// call that cannot be interrupted, so such a run stops when that call returns.
fn cancelling(family: Option<crate::models::Family>) -> String {
    match family {
        Some(f @ crate::models::Family::LinfaTree) => format!(
            "cancelling: {f} cannot be interrupted while its tree grows; the run stops when \
             the tree is grown and is recorded as cancelled"
        ),
        Some(f @ crate::models::Family::LinfaLr) => format!(
            "cancelling: {f} cannot be interrupted while it fits; the run stops when the fit \
             returns and is recorded as cancelled"
        ),
        _ => "cancelling: the run stops at its next step and is recorded as cancelled".into(),
    }
}

/// Says what a promotion did, or asks again when the policy refused it, with the `reason`
/// already typed.
pub(crate) fn on_promoted(
    app: &mut App,
    run_id: String,
    alias: &'static str,
    reason: Option<String>,
    res: Result<crate::promote::Promoted, crate::promote::PromoteError>,
) {
    use crate::promote::PromoteError;
    match res {
        Ok(p) => {
            let m = &p.alias_move;
            let weighed = p
                .evidence
                .as_ref()
                .map_or(String::new(), |e| format!("; [promote] {}", e.summary()));
            if m.changed {
                app.say(format!(
                    "{alias}: {} → version {}{weighed}",
                    m.from_version
                        .map_or("none".into(), |v| format!("version {v}")),
                    m.to_version
                ));
            } else {
                app.say(format!("{alias} already serves version {}", m.to_version));
            }
        }
        Err(PromoteError::Refused(e)) => {
            app.confirm = Some(super::dialogs::refused_question(*e, run_id, alias, reason));
        }
        Err(e) => app.warn(format!("not promoted: {e}")),
    }
}

/// Applies what a background task reported. Returns whether the store changed.
pub fn on_task(app: &mut App, tasks: &mut Tasks, msg: TaskMsg) -> bool {
    use crate::train::Event as E;
    match msg {
        TaskMsg::Runs(res) => {
            tasks.runs_loading = false;
            match res {
                Ok(runs) => app.set_runs(runs, crate::util::now_ms()),
                Err(e) => app.warn(format!("reading the runs: {e}")),
            }
            if std::mem::take(&mut tasks.runs_again) {
                tasks.load_runs();
            }
        }
        TaskMsg::Train(ev, cancel) => match ev {
            E::Queued { run_id, .. } => {
                tasks.cancels.insert(run_id, cancel);
                return true;
            }
            E::Started { .. } => return true,
            E::Progress { run_id, progress } => {
                app.live.insert(run_id, progress);
            }
            E::Finished { run_id, result } => {
                app.live.remove(&run_id);
                tasks.cancels.remove(&run_id);
                app.say(format!(
                    "{} finished: ROC AUC {:.4}; model fit {:.1} s (RUN TIME adds loading and evaluation)",
                    result.name, result.evaluation.roc_auc, result.fit_seconds
                ));
                return true;
            }
            E::Failed { run_id, reason } => {
                app.live.remove(&run_id);
                tasks.cancels.remove(&run_id);
                app.warn(format!("run failed: {reason}"));
                return true;
            }
            E::Cancelled { run_id } => {
                app.live.remove(&run_id);
                tasks.cancels.remove(&run_id);
                app.say("run cancelled");
                return true;
            }
        },
        TaskMsg::TrainEnded(res) => {
            tasks.training = tasks.training.saturating_sub(1);
            match res {
                Err(e) => app.warn(format!("training did not start: {e}")),
                Ok((_, Some(p))) if !p.pushed => app.warn(p.line),
                Ok((_, Some(p))) => app.say(p.line),
                Ok((_, None)) => {}
            }
            return true;
        }
        TaskMsg::Score(stage) => app.score.running = Some(stage.ratio()),
        TaskMsg::Scored(res) => {
            tasks.score_cancel = None;
            app.score.running = None;
            match res {
                Ok(s) => {
                    app.say(format!(
                        "scored {} rows; predictions in {}{}",
                        crate::util::thousands(s.rows),
                        s.output.display(),
                        s.kept.as_ref().map_or(String::new(), |k| format!(
                            " ({} is kept)",
                            k.file_name().unwrap_or_default().to_string_lossy()
                        ))
                    ));
                    app.score.last = Some(s);
                    app.score.error = None;
                }
                Err(e) => {
                    // The result of an earlier file would read as this one's.
                    app.score.last = None;
                    app.score.error = Some(e.clone());
                    app.warn(e);
                }
            }
        }
        TaskMsg::Drifted(res) => {
            app.drift.running = None;
            match res {
                Ok((d, id)) => {
                    app.say(format!(
                        "drift report {id}: {} of {} columns drifted",
                        d.report.drifted,
                        d.report.columns.len()
                    ));
                    app.drift.cursor = app
                        .drift
                        .cursor
                        .min(d.report.columns.len().saturating_sub(1));
                    app.drift.report = Some((id, d));
                }
                Err(e) => app.warn(e),
            }
        }
        TaskMsg::Monitored(res) => {
            app.monitor.running = false;
            match res {
                Ok(m) => {
                    app.say(format!(
                        "monitor: {} window(s), {} alert(s)",
                        m.windows.len(),
                        m.alerts.len()
                    ));
                    app.monitor.cursor = app.monitor.cursor.min(m.alerts.len().saturating_sub(1));
                    app.monitor.error = None;
                    app.monitor.report = Some(m);
                }
                Err(e) => {
                    app.monitor.error = Some(e.clone());
                    app.warn(e);
                }
            }
        }
        TaskMsg::Paired {
            baseline,
            runs,
            res,
        } => {
            let c = &mut app.compare;
            if c.tested_against.as_ref() != Some(&baseline) {
                return false; // the baseline moved on meanwhile
            }
            for r in &runs {
                c.testing.remove(r);
            }
            match res {
                Ok(outcomes) => {
                    let not: Vec<String> = outcomes
                        .iter()
                        .filter_map(|o| match o {
                            crate::compare::Outcome::NotComparable { why, .. } => Some(why.clone()),
                            _ => None,
                        })
                        .collect();
                    for (r, o) in runs.into_iter().zip(outcomes) {
                        c.tests.insert(r, o);
                    }
                    if !not.is_empty() {
                        app.warn(format!("not paired with the baseline: {}", not.join("; ")));
                    }
                }
                Err(e) => {
                    // Kept as not comparable, so the test is not retried on every key.
                    for r in runs {
                        c.tests.insert(
                            r.clone(),
                            crate::compare::Outcome::NotComparable {
                                run_id: r,
                                why: e.clone(),
                            },
                        );
                    }
                    app.warn(format!("no paired tests against the baseline: {e}"));
                }
            }
        }
        TaskMsg::Promoted {
            run_id,
            alias,
            reason,
            res,
        } => {
            on_promoted(app, run_id, alias, reason, res);
            return true;
        }
        TaskMsg::Exported(res) => match res {
            Ok(files) => {
                let dir = files
                    .first()
                    .and_then(|f| f.parent())
                    .map_or(String::new(), |d| d.display().to_string());
                app.say(format!("wrote {} PNG file(s) to {dir}", files.len()));
            }
            Err(e) => app.warn(format!("export failed: {e}")),
        },
    }
    false
}
