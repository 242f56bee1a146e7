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
/// alias serves now.
pub(crate) fn promote_question(app: &App, alias: &'static str) -> Option<Confirm> {
    let run = target_run(app)?;
    let before = alias_run(app, alias);
    let mut lines = vec![match before {
        Some(b) => format!("now: {} ({}), run …{}", b.name, b.family, short(&b.id)),
        None => format!("nothing is on {alias} yet"),
    }];
    for m in Metric::HEADLINE {
        let (key, label) = (m.key(), m.label());
        let Some(new) = run.metrics.get(key) else {
            continue;
        };
        lines.push(match before.and_then(|b| b.metrics.get(key)) {
            Some(old) => format!("{label:<9} {new:.4}  ({:+.4})", new - old),
            None => format!("{label:<9} {new:.4}"),
        });
    }
    lines.push("y promotes, n or Esc cancels".into());
    Some(Confirm {
        title: format!("Promote {} ({}) to {alias}?", run.name, run.family),
        lines,
        effect: Effect::Promote {
            run_id: run.id.clone(),
            alias,
        },
    })
}

pub(crate) fn rollback_question(app: &App, alias: &'static str) -> Result<Confirm, String> {
    let last = app
        .registry
        .events
        .iter()
        .filter(|e| e.alias == alias)
        .max_by_key(|e| e.id)
        .ok_or_else(|| format!("{alias} has never moved; there is nothing to roll back"))?;
    let v = |x: Option<i64>| x.map_or("none".to_string(), |v| format!("version {v}"));
    Ok(Confirm {
        title: format!("Roll {alias} back?"),
        lines: vec![
            format!(
                "{alias}: {} → {} (undoes the move of {})",
                v(last.to_version),
                v(last.from_version),
                crate::util::format_ms(last.at)
            ),
            "a server following the alias switches to it within a second".into(),
            "y rolls back, n or Esc cancels".into(),
        ],
        effect: Effect::Rollback { alias },
    })
}

pub(crate) fn cancel_question(run: &RunSummary) -> Result<Confirm, String> {
    if !matches!(run.status, RunStatus::Running | RunStatus::Queued) {
        return Err(format!(
            "{} is {}; only a running or queued run can be cancelled",
            run.name,
            run.status.as_str()
        ));
    }
    Ok(Confirm {
        title: format!("Cancel {} ({})?", run.name, run.family),
        lines: vec![
            format!(
                "run …{} is {}; it will end as cancelled",
                short(&run.id),
                run.status.as_str()
            ),
            "y cancels it, n or Esc keeps it going".into(),
        ],
        effect: Effect::Cancel {
            run_id: run.id.clone(),
        },
    })
}

pub(crate) fn delete_question(app: &App, run: &RunSummary) -> Result<Confirm, String> {
    if matches!(run.status, RunStatus::Running | RunStatus::Queued) {
        return Err(format!(
            "{} is {}; cancel it (x) before deleting it",
            run.name,
            run.status.as_str()
        ));
    }
    if let Some(v) = app.registry.versions.iter().find(|v| v.run_id == run.id) {
        return Err(format!(
            "{} is model version {} in the registry; registered runs are kept",
            run.name, v.version
        ));
    }
    Ok(Confirm {
        title: format!("Delete {} ({})?", run.name, run.family),
        lines: vec![
            format!(
                "run …{}: its params, metrics, curves and its model file go; this cannot be undone",
                short(&run.id)
            ),
            "y deletes, n or Esc keeps it".into(),
        ],
        effect: Effect::Delete {
            run_id: run.id.clone(),
        },
    })
}
