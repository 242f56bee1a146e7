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
        }),
        reason: Some(String::new()),
        warning: !worse.is_empty(),
    }
}

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
    Confirm {
        title: format!("Roll {alias} back?"),
        lines: vec![
            format!(
                "{alias}: {} → {} (undoes the move of {})",
                v(last.to_version),
                v(last.from_version),
                crate::util::format_ms(last.at)
            ),
            "a server following the alias switches to it within a second".into(),
            "Type a reason (kept in the audit log); Enter rolls back, Esc cancels".into(),
        ],
        effect: Some(Effect::Rollback {
            alias,
            reason: None,
        }),
        reason: Some(String::new()),
        warning: false,
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
