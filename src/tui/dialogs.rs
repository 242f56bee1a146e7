//! The yes/no questions before a promotion, a rollback, a cancel or a delete, with what each
//! would change.

use crate::tracking::{RunStatus, RunSummary};

use super::app::*;
use crate::metrics::Metric;

/// The run an alias points at now, from the registry.
pub(crate) fn alias_run<'a>(app: &'a App, alias: &str) -> Option<&'a RunSummary> {
    let v = app
        .registry
        .versions
        .iter()
        .find(|v| v.aliases.iter().any(|a| a == alias))?;
    app.runs.iter().find(|r| r.id == v.run_id)
}

/// The run an action applies to: the version under the cursor on Registry, else the run under
/// the cursor.
pub(crate) fn target_run(app: &App) -> Option<&RunSummary> {
    if app.screen == Screen::Registry {
        let v = app.registry.versions.get(app.registry.cursor)?;
        return app.runs.iter().find(|r| r.id == v.run_id);
    }
    app.current()
}

pub(crate) fn short(id: &str) -> &str {
    crate::util::short_id(id, 6)
}

/// The confirmation for moving `alias` to the target run: its metrics against the model the
/// alias serves now, a warning when it is worse on any of them, and a reason to type. A notice
/// instead when there is no run or the alias already serves it.
pub(crate) fn promote_question(app: &App, alias: &'static str) -> Confirm {
    let Some(run) = target_run(app) else {
        return Confirm::notice(
            "Nothing to promote",
            if app.screen == Screen::Registry {
                "there is no version under the cursor"
            } else {
                "there is no run under the cursor; press n to train one"
            },
        );
    };
    if let Some(v) = app
        .registry
        .versions
        .iter()
        .find(|v| v.run_id == run.id && v.aliases.iter().any(|a| a == alias))
    {
        return Confirm::notice(
            format!("{alias} already serves it"),
            format!(
                "{alias} already serves {} ({}), version {}; nothing to do",
                run.name, run.family, v.version
            ),
        );
    }
    let before = alias_run(app, alias);
    let mut lines = vec![match before {
        Some(b) => format!("now: {} ({}), run …{}", b.name, b.family, short(&b.id)),
        None => format!("nothing is on {alias} yet"),
    }];
    let mut worse = Vec::new();
    for m in Metric::HEADLINE {
        let (key, label) = (m.key(), m.label());
        let Some(new) = run.metrics.get(key) else {
            continue;
        };
        lines.push(match before.and_then(|b| b.metrics.get(key)) {
            Some(old) => {
                if m.best_first(*new, *old) == std::cmp::Ordering::Greater {
                    worse.push(format!("{label} {:+.4}", new - old));
                }
                format!("{label:<9} {new:.4}  ({:+.4})", new - old)
            }
            None => format!("{label:<9} {new:.4}"),
        });
    }
    if !worse.is_empty() {
        lines.insert(
            0,
            format!("⚠ worse than what {alias} serves now: {}", worse.join(", ")),
        );
    }
    lines.push("Type a reason (kept in the audit log); Enter promotes, Esc cancels".into());
    Confirm {
        title: format!("Promote {} ({}) to {alias}?", run.name, run.family),
        lines,
        effect: Some(Effect::Promote {
            run_id: run.id.clone(),
            alias,
            reason: None,
            force: false,
            weighed: None,
        }),
        reason: Some(String::new()),
        warning: !worse.is_empty(),
    }
}

/// The `[promote]` policy refused a move: each rule with its numbers, and the way past it (a
/// reason, kept with the evidence in the audit log). The reason typed before stays, and the
/// evidence goes with the override, so the policy is weighed once.
pub(crate) fn refused_question(
    evidence: crate::promote::Evidence,
    run_id: String,
    alias: &'static str,
    reason: Option<String>,
) -> Confirm {
    let mut lines = evidence.lines();
    lines.push(String::new());
    lines.push(
        "To promote anyway, type why (kept with this evidence in the audit log) and press \
         Enter; Esc leaves the alias where it is"
            .into(),
    );
    Confirm {
        title: format!(
            "[promote] refused {} for {alias}",
            evidence.candidate.run_name
        ),
        lines,
        effect: Some(Effect::Promote {
            run_id,
            alias,
            reason: None,
            force: true,
            weighed: Some(Weighed(std::sync::Arc::new(evidence))),
        }),
        reason: Some(reason.unwrap_or_default()),
        warning: true,
    }
}

/// The evidence of the newest move to the version under the Registry cursor, rule by rule.
pub(crate) fn evidence_notice(app: &App) -> Confirm {
    let Some(v) = app.registry.versions.get(app.registry.cursor) else {
        return Confirm::notice("No evidence", "there is no version under the cursor");
    };
    let newest = app
        .registry
        .events
        .iter()
        .filter(|e| e.to_version == Some(v.version))
        .max_by_key(|e| (e.at, e.id));
    let Some(e) = newest else {
        return Confirm::notice(
            "No evidence",
            format!(
                "version {} has not been moved to in the log shown",
                v.version
            ),
        );
    };
    let row = e.audit_row();
    let title = format!("Version {}: {} {} by {}", v.version, row[1], row[2], row[3]);
    let mut lines = vec![format!(
        "{}; reason: {}",
        row[0],
        if row[4].is_empty() { "none" } else { &row[4] }
    )];
    match crate::promote::Evidence::of_event(e) {
        Some(ev) => {
            lines.push(format!("[promote] {}", ev.summary()));
            lines.extend(ev.lines());
        }
        None => lines.push("no [promote] policy guarded this move".into()),
    }
    Confirm {
        title,
        lines,
        effect: None,
        reason: None,
        warning: false,
    }
}

/// The confirmation for undoing `alias`'s last move: the version it goes back to, that
/// version's metrics against what the alias serves now, and a warning when the version got
/// onto an alias by overriding the `[promote]` policy, so a rollback never restores such a
/// model unawares.
pub(crate) fn rollback_question(app: &App, alias: &'static str) -> Confirm {
    let Some(last) = app
        .registry
        .events
        .iter()
        .filter(|e| e.alias == alias)
        .max_by_key(|e| e.id)
    else {
        return Confirm::notice(
            "Nothing to roll back",
            format!("{alias} has never moved; there is nothing to roll back"),
        );
    };
    let v = |x: Option<i64>| x.map_or("none".to_string(), |v| format!("version {v}"));
    let mut lines = vec![format!(
        "{alias}: {} → {} (undoes the move of {})",
        v(last.to_version),
        v(last.from_version),
        crate::util::format_ms(last.at)
    )];
    let run_of = |version: Option<i64>| {
        let ver = app
            .registry
            .versions
            .iter()
            .find(|x| Some(x.version) == version)?;
        app.runs.iter().find(|r| r.id == ver.run_id)
    };
    let (target, now) = (run_of(last.from_version), run_of(last.to_version));
    if let (Some(version), Some(run)) = (last.from_version, target) {
        lines.push(format!(
            "version {version}: {} ({}), run …{}",
            run.name,
            run.family,
            short(&run.id)
        ));
        for m in Metric::HEADLINE {
            let (key, label) = (m.key(), m.label());
            let Some(back) = run.metrics.get(key) else {
                continue;
            };
            lines.push(match now.and_then(|n| n.metrics.get(key)) {
                Some(cur) => format!("{label:<9} {back:.4}  ({:+.4})", back - cur),
                None => format!("{label:<9} {back:.4}"),
            });
        }
    }
    // The newest move onto the version being restored: was it forced past the policy?
    let forced = last.from_version.and_then(|version| {
        let e = app
            .registry
            .events
            .iter()
            .filter(|e| e.to_version == Some(version) && e.evidence.is_some())
            .max_by_key(|e| e.id)?;
        let ev = crate::promote::Evidence::of_event(e).filter(|ev| ev.forced)?;
        Some(format!(
            "⚠ version {version} was put on {} by overriding [promote] ({}), by {}; reason: {}",
            e.alias,
            ev.summary(),
            e.actor,
            e.reason.as_deref().unwrap_or("none")
        ))
    });
    let warning = forced.is_some();
    if let Some(w) = forced {
        lines.insert(0, w);
    }
    lines.push("a server following the alias switches to it within a second".into());
    lines.push("Type a reason (kept in the audit log); Enter rolls back, Esc cancels".into());
    Confirm {
        title: format!("Roll {alias} back?"),
        lines,
        effect: Some(Effect::Rollback {
            alias,
            reason: None,
        }),
        reason: Some(String::new()),
        warning,
    }
}

pub(crate) fn cancel_question(run: &RunSummary) -> Confirm {
    if !matches!(run.status, RunStatus::Running | RunStatus::Queued) {
        return Confirm::notice(
            "Nothing to cancel",
            format!(
                "{} is {}; only a running or queued run can be cancelled",
                run.name,
                run.status.as_str()
            ),
        );
    }
    Confirm::question(
        format!("Cancel {} ({})?", run.name, run.family),
        vec![
            format!(
                "run …{} is {}; it will end as cancelled",
                short(&run.id),
                run.status.as_str()
            ),
            "y cancels it, n or Esc keeps it going".into(),
        ],
        Effect::Cancel {
            run_id: run.id.clone(),
        },
    )
}

pub(crate) fn delete_question(app: &App, run: &RunSummary) -> Confirm {
    if matches!(run.status, RunStatus::Running | RunStatus::Queued) {
        return Confirm::notice(
            "Not deleted",
            format!(
                "{} is {}; cancel it (x) before deleting it",
                run.name,
                run.status.as_str()
            ),
        );
    }
    if let Some(v) = app.registry.versions.iter().find(|v| v.run_id == run.id) {
        return Confirm::notice(
            "Not deleted",
            format!(
                "{} is model version {} in the registry; registered runs are kept",
                run.name, v.version
            ),
        );
    }
    Confirm::question(
        format!("Delete {} ({})?", run.name, run.family),
        vec![
            format!(
                "run …{}: its params, metrics, curves and its model file go; this cannot be undone",
                short(&run.id)
            ),
            "y deletes, n or Esc keeps it".into(),
        ],
        Effect::Delete {
            run_id: run.id.clone(),
        },
    )
}

/// The question before stopping the tune or sweep file in progress: what stays and what ends.
pub(crate) fn sweep_cancel_question(s: &SweepProgress) -> Confirm {
    let (what, fate) = match s.budget_ms {
        Some(_) => (
            format!("the tune {}", s.name),
            format!(
                "{} trial(s) recorded so far stay; fits in flight stop, and those with a fit are \
                 recorded as stopped by the budget",
                s.done
            ),
        ),
        None => (
            format!("the sweep {}", s.name),
            format!(
                "{} run(s) ended so far stay; the run training and those not started end as \
                 cancelled",
                s.done
            ),
        ),
    };
    Confirm::question(
        format!("Stop {what}?"),
        vec![fate, "y stops it, n or Esc lets it go on".into()],
        Effect::CancelSweep,
    )
}
