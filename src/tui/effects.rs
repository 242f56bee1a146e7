//! Carrying out what `update` asks for (store writes here, long work as a background task), and
//! applying what a background task reports.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::app::{App, Confirm, Effect, SweepProgress, MONITOR_WINDOWS};
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
            Ok(d) => {
                // Mean |SHAP| is computed when the details open, off the event loop.
                if d.run
                    .as_ref()
                    .is_some_and(|r| r.status == crate::tracking::RunStatus::Finished)
                {
                    tasks.details_shap(run_id);
                }
                app.details = Some(d);
            }
            Err(e) => app.warn(format!("{e:#}")),
        },
        Effect::Score { path, log } => {
            if tasks.score_cancel.is_some() {
                app.warn("already scoring");
            } else {
                tasks.score(path, log);
            }
        }
        Effect::Tune(job) => {
            app.prompt = None;
            app.say(format!(
                "tuning {} for {} s…",
                job.families
                    .iter()
                    .map(|f| f.name())
                    .collect::<Vec<_>>()
                    .join(", "),
                job.budget_ms / 1000
            ));
            app.sweep = Some(SweepProgress {
                name: job.name.clone().unwrap_or_else(|| "tune".into()),
                budget_ms: Some(job.budget_ms),
                total: None,
                started: crate::util::now_ms(),
                done: 0,
                best: None,
                bracket: None,
                stopping: false,
            });
            tasks.tune(job);
        }
        Effect::Sweep { file, name, data } => match sweep_jobs(&file, name.as_deref()) {
            Ok(jobs) => {
                app.prompt = None;
                app.say(format!(
                    "preparing {} for {} run(s) of {}…",
                    data.display(),
                    jobs.len(),
                    file.display()
                ));
                app.sweep = Some(SweepProgress {
                    name: file.file_name().map_or(file.display().to_string(), |f| {
                        f.to_string_lossy().into_owned()
                    }),
                    budget_ms: None,
                    total: Some(jobs.len()),
                    started: crate::util::now_ms(),
                    done: 0,
                    best: None,
                    bracket: None,
                    stopping: false,
                });
                tasks.sweep(data, jobs);
            }
            // The dialog stays, with what is wrong with the file.
            Err(e) => {
                if let Some(p) = app.prompt.as_mut() {
                    p.focus = 0;
                    p.error = Some(e);
                } else {
                    app.warn(e);
                }
            }
        },
        Effect::CancelSweep => {
            for flag in [&tasks.tune_stop, &tasks.sweep_batch].into_iter().flatten() {
                flag.store(true, Ordering::Relaxed);
            }
            if let Some(s) = app.sweep.as_mut() {
                s.stopping = true;
            }
            app.say("stopping: fits in flight end at their next step");
        }
        Effect::Outcomes { file } => {
            app.prompt = None;
            app.monitor.importing = true;
            app.say(format!("importing outcomes from {}…", file.display()));
            tasks.outcomes(file);
        }
        Effect::CancelScore => {
            if let Some(c) = &tasks.score_cancel {
                c.store(true, Ordering::Relaxed);
            }
        }
        Effect::ExplainRow { row } => tasks.why_row(row),
        Effect::Drift { current } => tasks.drift(current),
        Effect::Monitor { window } => tasks.monitor(window),
        Effect::Export => match tasks.export(app) {
            Ok(()) => app.say("exporting charts…"),
            Err(e) => app.warn(e),
        },
    }
    Ok(())
}

/// The runs of a sweep file, as `staytrack train --sweep FILE` reads it, names checked as it
/// checks them.
fn sweep_jobs(
    file: &std::path::Path,
    name: Option<&str>,
) -> Result<Vec<crate::train::Job>, String> {
    use crate::tracking::documents::MAX_RUN_NAME;
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("{}: cannot read the sweep file: {e}", file.display()))?;
    let jobs = crate::train::sweep_jobs(&text, file, name).map_err(|e| format!("{e:#}"))?;
    if let Some(j) = jobs
        .iter()
        .find(|j| j.name.len() > MAX_RUN_NAME || j.name.chars().any(char::is_control))
    {
        return Err(format!(
            "run name '{}': use at most {MAX_RUN_NAME} bytes and no control characters",
            crate::util::shown(&j.name)
        ));
    }
    if jobs.is_empty() {
        return Err(format!("{}: no run to train", file.display()));
    }
    Ok(jobs)
}

/// The notice an outcomes import ends with: the summary `staytrack feedback` prints, and the
/// rows it could not take, as it lists them.
fn outcomes_notice(
    file: &std::path::Path,
    s: &crate::feedback::FeedbackSummary,
    warning: Option<String>,
) -> Confirm {
    /// Rows listed in the dialog; the rest are counted.
    const LISTED: usize = 5;
    let mut lines = vec![s.describe(file)];
    for (what, list) in [("conflicting", &s.conflicting), ("skipped", &s.rejected)] {
        for (row, why) in list.iter().take(LISTED) {
            lines.push(format!("row {row}: {why}; {what}"));
        }
        if list.len() > LISTED {
            lines.push(format!("… and {} more rows {what}", list.len() - LISTED));
        }
    }
    let warned = warning.is_some();
    lines.extend(warning.map(|w| format!("⚠ {w}")));
    lines.push("Monitor reads the log again; any key closes".into());
    Confirm {
        title: "Outcomes imported".into(),
        lines,
        effect: None,
        reason: None,
        warning: warned,
    }
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
        TaskMsg::Train(ev, cancel) => {
            // A sweep file's runs also move its progress line.
            let sweep = tasks
                .sweep_batch
                .as_ref()
                .is_some_and(|f| Arc::ptr_eq(f, &cancel));
            if let (true, Some(s)) = (sweep, app.sweep.as_mut()) {
                match &ev {
                    E::Finished { result, .. } => {
                        s.ended(&result.name, Some(result.evaluation.roc_auc))
                    }
                    E::Failed { .. } | E::Cancelled { .. } => s.done += 1,
                    _ => {}
                }
            }
            match ev {
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
            }
        }
        TaskMsg::TrainEnded(res, cancel) => {
            tasks.training = tasks.training.saturating_sub(1);
            let sweep = tasks
                .sweep_batch
                .take_if(|f| Arc::ptr_eq(f, &cancel))
                .and(app.sweep.take());
            match (res, sweep) {
                (Err(e), _) => app.warn(format!("training did not start: {e}")),
                (Ok((n, push)), Some(s)) => {
                    let mut text = format!(
                        "sweep {}: {n} of {} run(s) finished{}",
                        s.name,
                        s.total.unwrap_or(n),
                        s.best_text()
                    );
                    if let Some(p) = &push {
                        text = format!("{text} · {}", p.line);
                    }
                    if push.is_some_and(|p| !p.pushed) {
                        app.warn(text);
                    } else {
                        app.say(text);
                    }
                }
                (Ok((_, Some(p))), None) if !p.pushed => app.warn(p.line),
                (Ok((_, Some(p))), None) => app.say(p.line),
                (Ok((_, None)), None) => {}
            }
            return true;
        }
        TaskMsg::Tune(ev) => {
            use crate::tune::TuneEvent;
            let Some(s) = app.sweep.as_mut() else {
                return false;
            };
            match ev {
                TuneEvent::Bracket { family, .. } => s.bracket = Some(family),
                TuneEvent::Evaluated { .. } => {}
                TuneEvent::Recorded { trial } => {
                    // The family's default run comes before its first bracket: the yardstick
                    // the sweep is compared with, not one of its trials.
                    if s.bracket == Some(trial.family) {
                        s.ended(&trial.name, Some(trial.roc_auc));
                    }
                    return true;
                }
            }
        }
        TaskMsg::TuneEnded(res) => {
            tasks.tune_stop = None;
            let stopped = app.sweep.take().is_some_and(|s| s.stopping);
            match res {
                Ok(r) => {
                    let best = r
                        .trials
                        .iter()
                        .filter(|t| t.roc_auc.is_finite())
                        .max_by(|a, b| a.roc_auc.total_cmp(&b.roc_auc))
                        .map_or(String::new(), |t| {
                            format!("; best {} ROC AUC {:.4}", t.name, t.roc_auc)
                        });
                    app.say(format!(
                        "tune {}: {} trial(s) in {:.0} s of a {:.0} s budget{}{best}",
                        r.sweep,
                        r.trials.len(),
                        r.elapsed_seconds,
                        r.budget_seconds,
                        if stopped { ", stopped with x" } else { "" },
                    ));
                }
                Err(e) => app.warn(format!("tune failed: {e}")),
            }
            return true;
        }
        TaskMsg::Outcomes { file, res } => {
            tasks.importing = false;
            app.monitor.importing = false;
            match res {
                Ok((s, warning)) => {
                    app.confirm = Some(outcomes_notice(&file, &s, warning));
                    app.say(s.describe(&file));
                    // The labelled counts and realized metrics change with the outcomes.
                    if !app.monitor.running {
                        app.monitor.running = true;
                        tasks.monitor(MONITOR_WINDOWS[app.monitor.window]);
                    }
                }
                Err(e) => {
                    app.confirm = Some(Confirm::notice("Outcomes not imported", e.clone()));
                    app.warn(e);
                }
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
                        "scored {} rows; predictions in {}{}{}",
                        crate::util::thousands(s.rows),
                        s.output.display(),
                        s.kept.as_ref().map_or(String::new(), |k| format!(
                            " ({} is kept)",
                            k.file_name().unwrap_or_default().to_string_lossy()
                        )),
                        if s.logged > 0 {
                            format!(
                                "; {} rows logged for monitoring",
                                crate::util::thousands(s.logged)
                            )
                        } else {
                            String::new()
                        }
                    ));
                    // The rows listed and explained are this file's, read in the background.
                    app.score.why = super::why::WhyState {
                        generation: tasks.why_rows(s.input.clone(), s.model_version),
                        total: s.rows,
                        loading: true,
                        ..Default::default()
                    };
                    app.score.last = Some(s);
                    app.score.error = None;
                }
                Err(e) => {
                    // The result of an earlier file would read as this one's.
                    app.score.why = Default::default();
                    app.score.last = None;
                    app.score.error = Some(e.clone());
                    app.warn(e);
                }
            }
        }
        TaskMsg::WhyRows { generation, res } => {
            let why = &mut app.score.why;
            if generation == why.generation {
                why.loading = false;
                match res {
                    Ok(rows) => why.rows = Some(rows),
                    Err(e) => why.error = Some(e),
                }
                if let Some(row) = why.want() {
                    tasks.why_row(row);
                }
            }
        }
        TaskMsg::DetailsShap { run_id, res } => {
            if let Some(d) = app
                .details
                .as_mut()
                .filter(|d| d.run.as_ref().is_some_and(|r| r.id == run_id))
            {
                d.shap = Some(res);
            }
        }
        TaskMsg::WhyRow {
            generation,
            row,
            why,
        } => app.score.why.answered(generation, row, why),
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
            slices,
        } => {
            let c = &mut app.compare;
            if c.tested_against.as_ref() != Some(&baseline) {
                return false; // the baseline moved on meanwhile
            }
            c.slice_tests.extend(slices);
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
