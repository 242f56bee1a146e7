//! Promotion on evidence: the `[promote]` policy of `staytrack.toml`, weighed on every move of a
//! guarded alias to a new model, whichever front end asks (CLI, TUI, the admin route, `--best`).
//!
//! A policy is a list of rules; each gives a verdict with its numbers. A move that fails one is
//! refused unless forced with a reason; the evidence (JSON) is kept with the move in the audit
//! log either way. Rollbacks are never weighed: they restore a model that already served.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::bundle::{Bundle, BundleError};
use crate::compare::MetricTest;
use crate::config::Config;
use crate::metrics::{Direction, Metric};
use crate::tracking::registry::{valid_alias, AliasMove, Audit, RegistryError, PRODUCTION};
use crate::tracking::{RunStatus, RunSummary, Store};

mod rules;
mod slice_rules;
use rules::{beat_rule, check, drift_rule, fail, latency_rule};

/// The `[promote]` table: the rules a move of a guarded alias must pass.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// The aliases the rules guard.
    #[serde(default = "default_aliases")]
    pub aliases: Vec<String>,
    /// The candidate must beat the model the alias serves on this metric (in its direction)…
    pub metric: Option<String>,
    /// …by at least this much…
    #[serde(default)]
    pub min_gain: f64,
    /// …with the paired test's two-sided p-value below this.
    pub max_p: Option<f64>,
    /// The share of columns drifted between the candidate's training profile and the newest
    /// logged predictions may not exceed this.
    pub max_drift_share: Option<f64>,
    /// How many of the newest logged predictions the drift rule reads.
    #[serde(default = "default_drift_rows")]
    pub drift_rows: usize,
    /// The candidate's model file may not be larger (megabytes, 10^6 bytes).
    pub max_model_mb: Option<f64>,
    /// The 99th percentile of the time to predict one validation row may not be longer.
    pub max_predict_ms: Option<f64>,
    /// No slice (`[slices]`) may lose more ROC AUC against the same slice of the served model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worst_slice_roc_auc_drop: Option<f64>,
    /// No slice column's equalized odds difference may be larger.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_equalized_odds_difference: Option<f64>,
}

fn default_aliases() -> Vec<String> {
    vec![PRODUCTION.to_string()]
}

fn default_drift_rows() -> usize {
    5_000
}

/// Validation rows the latency rule predicts, one at a time.
const LATENCY_ROWS: usize = 1_000;

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            aliases: default_aliases(),
            metric: None,
            min_gain: 0.0,
            max_p: None,
            max_drift_share: None,
            drift_rows: default_drift_rows(),
            max_model_mb: None,
            max_predict_ms: None,
            worst_slice_roc_auc_drop: None,
            max_equalized_odds_difference: None,
        }
    }
}

/// Why the `[promote]` table cannot be used: the settings file does not read, or a value is out
/// of its range. Either is the workspace's fault, never a caller's.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The settings file cannot be read or parsed (its message names the file).
    #[error("{0:#}")]
    Settings(anyhow::Error),
    #[error("{} [promote] {problem}", .file.display())]
    Invalid { file: PathBuf, problem: RuleError },
}

/// A `[promote]` value that would let a typo wave every candidate through, by key.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RuleError {
    #[error("aliases: '{alias}' is not a valid alias name")]
    Alias { alias: String },
    #[error("metric: '{metric}' is not a metric (one of {})", gated_metrics().join(", "))]
    UnknownMetric { metric: String },
    #[error("metric: '{metric}' has no paired test; use one of {}", gated_metrics().join(", "))]
    Untestable { metric: String },
    #[error("min_gain and max_p need a metric to test (metric = \"roc_auc\")")]
    NoMetric,
    #[error("{key}: {value} is out of range ({range})")]
    OutOfRange {
        key: &'static str,
        value: f64,
        range: &'static str,
    },
    #[error("drift_rows: 0 rows cannot show drift")]
    NoDriftRows,
}

impl Policy {
    /// The `[promote]` table of the workspace's settings file; no rules when there is none.
    pub fn load(cfg: &Config) -> Result<Policy, PolicyError> {
        let policy: Policy = cfg.section("promote").map_err(PolicyError::Settings)?;
        policy.check().map_err(|problem| PolicyError::Invalid {
            file: cfg.settings_file(),
            problem,
        })?;
        Ok(policy)
    }

    /// Every limit in its range, so a typo cannot wave every candidate through.
    pub fn check(&self) -> Result<(), RuleError> {
        if let Some(a) = self.aliases.iter().find(|a| !valid_alias(a)) {
            return Err(RuleError::Alias { alias: a.clone() });
        }
        if let Some(m) = &self.metric {
            let metric =
                Metric::parse(m).ok_or_else(|| RuleError::UnknownMetric { metric: m.clone() })?;
            if crate::metrics::paired::Score::of(metric, crate::data::spec::THRESHOLD).is_none() {
                return Err(RuleError::Untestable { metric: m.clone() });
            }
        } else if self.max_p.is_some() || self.min_gain != 0.0 {
            return Err(RuleError::NoMetric);
        }
        let finite = |key: &'static str, value: f64, ok: bool, range: &'static str| {
            if value.is_finite() && ok {
                Ok(())
            } else {
                Err(RuleError::OutOfRange { key, value, range })
            }
        };
        finite("min_gain", self.min_gain, self.min_gain >= 0.0, "0 or more")?;
        if let Some(p) = self.max_p {
            finite("max_p", p, p > 0.0 && p <= 1.0, "above 0, at most 1")?;
        }
        if let Some(s) = self.max_drift_share {
            finite("max_drift_share", s, (0.0..=1.0).contains(&s), "0 to 1")?;
        }
        if let Some(s) = self.max_model_mb {
            finite("max_model_mb", s, s > 0.0, "above 0")?;
        }
        if let Some(s) = self.max_predict_ms {
            finite("max_predict_ms", s, s > 0.0, "above 0")?;
        }
        if let Some(s) = self.worst_slice_roc_auc_drop {
            finite(
                "worst_slice_roc_auc_drop",
                s,
                (0.0..=1.0).contains(&s),
                "0 to 1",
            )?;
        }
        if let Some(s) = self.max_equalized_odds_difference {
            finite(
                "max_equalized_odds_difference",
                s,
                (0.0..=1.0).contains(&s),
                "0 to 1",
            )?;
        }
        if self.drift_rows == 0 {
            return Err(RuleError::NoDriftRows);
        }
        Ok(())
    }

    /// Whether moves of `alias` are weighed: the alias is guarded and there is a rule.
    pub fn guards(&self, alias: &str) -> bool {
        self.aliases.iter().any(|a| a == alias)
            && (self.metric.is_some()
                || self.max_drift_share.is_some()
                || self.max_model_mb.is_some()
                || self.max_predict_ms.is_some()
                || self.worst_slice_roc_auc_drop.is_some()
                || self.max_equalized_odds_difference.is_some())
    }
}

fn gated_metrics() -> Vec<&'static str> {
    Metric::ALL
        .into_iter()
        .filter(|m| crate::metrics::paired::Score::of(*m, 0.5).is_some())
        .map(Metric::key)
        .collect()
}

/// One rule's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Fail,
    /// The rule had nothing to weigh (no model on the alias yet, no logged predictions).
    Skip,
}

/// A rule, its verdict and the numbers behind it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Check {
    /// The settings key of the rule (`metric`, `max_drift_share`, `max_model_mb`,
    /// `max_predict_ms`, `worst_slice_roc_auc_drop`, `max_equalized_odds_difference`).
    pub rule: String,
    pub verdict: Verdict,
    /// The verdict in words, with its numbers.
    pub detail: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measured: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<MetricTest>,
}

/// A model on one side of a move.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Side {
    pub run_id: String,
    pub run_name: String,
    pub family: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
}

impl Side {
    fn of(run: &RunSummary, version: Option<i64>) -> Side {
        Side {
            run_id: run.id.clone(),
            run_name: run.name.clone(),
            family: run.family.to_string(),
            version,
        }
    }
}

/// What the policy weighed for one move, as the audit log keeps it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Evidence {
    pub alias: String,
    pub candidate: Side,
    /// The model the alias served when the move was weighed.
    pub current: Option<Side>,
    pub policy: Policy,
    pub checks: Vec<Check>,
    pub passed: bool,
    /// The move was made although a rule failed (`--force`).
    #[serde(default)]
    pub forced: bool,
}

impl Evidence {
    /// The evidence a move in the audit log was weighed on, if it was and it reads back.
    pub fn of_event(e: &crate::tracking::AliasEvent) -> Option<Evidence> {
        serde_json::from_value(e.evidence.clone()?).ok()
    }

    /// The audit log's EVIDENCE cell for a move: the summary, `-` when no policy weighed it.
    pub fn cell(e: &crate::tracking::AliasEvent) -> String {
        match (&e.evidence, Evidence::of_event(e)) {
            (None, _) => "-".into(),
            (Some(_), Some(ev)) => ev.summary(),
            (Some(_), None) => "unreadable".into(),
        }
    }

    pub fn failed(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| c.verdict == Verdict::Fail)
    }

    /// One line per rule: `✓`, `✗` or `–`, the rule, and its numbers.
    pub fn lines(&self) -> Vec<String> {
        self.checks
            .iter()
            .map(|c| {
                let mark = match c.verdict {
                    Verdict::Pass => "✓",
                    Verdict::Fail => "✗",
                    Verdict::Skip => "–",
                };
                format!("{mark} {}: {}", c.rule, c.detail)
            })
            .collect()
    }

    /// A one-line summary for tables: `passed`, `forced past max_p, …` or `refused: …`.
    pub fn summary(&self) -> String {
        let failed: Vec<&str> = self.failed().map(|c| c.rule.as_str()).collect();
        match (failed.is_empty(), self.forced) {
            (true, _) => format!("passed {} rule(s)", self.checks.len()),
            (false, true) => format!("forced past {}", failed.join(", ")),
            (false, false) => format!("failed {}", failed.join(", ")),
        }
    }
}

/// Which model to move the alias to.
#[derive(Debug, Clone)]
pub enum Target {
    /// A run, by id, name or a unique start or end of its id.
    Run(String),
    /// A registered version.
    Version(i64),
    /// The finished run that ranks first by the metric.
    Best(Metric),
}

#[derive(Debug, Clone)]
pub struct Request {
    pub target: Target,
    pub alias: String,
    pub actor: String,
    pub reason: Option<String>,
    /// Move even when a rule fails; needs a reason.
    pub force: bool,
}

/// A move that was made, and the evidence it was weighed on (none when the alias is not
/// guarded or did not move).
#[derive(Debug, Clone, Serialize)]
pub struct Promoted {
    #[serde(flatten)]
    pub alias_move: AliasMove,
    pub evidence: Option<Evidence>,
    /// The run the alias served before.
    #[serde(skip)]
    pub before_run: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum PromoteError {
    #[error("{}", refusal(.0))]
    Refused(Box<Evidence>),
    #[error(
        "--force overrides the promotion policy only with a reason for the audit log \
         (--reason TEXT)"
    )]
    ForceWithoutReason,
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// `--best` by a metric that ranks nothing.
    #[error("--metric {metric}: a setting, not a score; rank by another metric")]
    Unranked { metric: &'static str },
    /// `--best` with no finished run that has the metric.
    #[error("--best: no finished run has the metric '{metric}'; train first (`staytrack train`)")]
    NoCandidate { metric: &'static str },
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The candidate's bundle cannot be loaded: no alias moves to a model nothing can serve.
    /// The message says what is wrong with it, not where it is.
    #[error("run {run}: {}; the alias was not moved", .bundle.kind())]
    Unloadable { run: String, bundle: BundleError },
}

fn refusal(e: &Evidence) -> String {
    let mut s = format!(
        "not promoted: {} of the [promote] rules for '{}' failed",
        e.failed().count(),
        e.alias
    );
    for l in e.lines() {
        s.push_str("\n  ");
        s.push_str(&l);
    }
    s.push_str(
        "\nto promote anyway: --force --reason TEXT (the override is kept in the audit log)",
    );
    s
}

/// Moves an alias to a model, weighing the policy first when it guards the alias.
pub fn promote(store: &mut Store, cfg: &Config, req: &Request) -> Result<Promoted, PromoteError> {
    promote_weighed(store, cfg, req, None)
}

/// `promote`, reusing `weighed`: the evidence a refusal of the same move returned, so an
/// override does not weigh rules that take seconds a second time. It is reused only while it
/// still describes the move (the same alias, candidate and policy, against the version the
/// alias serves now); otherwise the policy is weighed afresh.
pub fn promote_weighed(
    store: &mut Store,
    cfg: &Config,
    req: &Request,
    weighed: Option<Evidence>,
) -> Result<Promoted, PromoteError> {
    if !valid_alias(&req.alias) {
        return Err(RegistryError::BadAlias(req.alias.clone()).into());
    }
    let policy = Policy::load(cfg)?;
    let candidate = match &req.target {
        Target::Run(r) => store.get_run(r).map_err(RegistryError::from)?,
        Target::Version(v) => {
            let t = store
                .version_target(*v)
                .map_err(RegistryError::from)?
                .ok_or(RegistryError::NoSuchVersion(*v))?;
            store.get_run(&t.run_id).map_err(RegistryError::from)?
        }
        Target::Best(m) => best_run(store, *m)?,
    };
    // Every promotion loads the bundle it would serve, whichever alias it moves and whether a
    // policy guards it: checksum, digest and structure. A file not in this workspace (a run
    // whose bundle a pull has yet to bring) is left to the server, which names it when it
    // loads.
    if let Some(a) = store
        .artifacts(&candidate.id)
        .map_err(RegistryError::from)?
        .into_iter()
        .find(|a| a.name == "bundle")
    {
        match Bundle::load_registered(&cfg.artifacts_dir, &a.sha256, Some(&a.path)) {
            Ok(_) | Err(BundleError::Missing { .. }) => {}
            Err(bundle) => {
                return Err(PromoteError::Unloadable {
                    run: candidate.id.clone(),
                    bundle,
                })
            }
        }
    }
    let current = store
        .alias_target(&req.alias)
        .map_err(RegistryError::from)?;
    let before_run = current.as_ref().map(|c| c.run_id.clone());
    let mut evidence = None;
    if policy.guards(&req.alias) && before_run.as_deref() != Some(candidate.id.as_str()) {
        let serves = current
            .as_ref()
            .map(|c| (c.run_id.as_str(), Some(c.version)));
        let reusable = weighed.filter(|e| {
            e.alias == req.alias
                && e.policy == policy
                && e.candidate.run_id == candidate.id
                && e.current.as_ref().map(|c| (c.run_id.as_str(), c.version)) == serves
        });
        let mut e = match reusable {
            Some(e) => e,
            None => weigh(store, cfg, &policy, &req.alias, &candidate)?,
        };
        if !e.passed {
            if !req.force {
                return Err(PromoteError::Refused(Box::new(e)));
            }
            if req.reason.as_deref().is_none_or(|r| r.trim().is_empty()) {
                return Err(PromoteError::ForceWithoutReason);
            }
            e.forced = true;
        }
        evidence = Some(e);
    }
    let json = evidence
        .as_ref()
        .map(|e| serde_json::to_value(e).unwrap_or_default());
    let audit = Audit {
        actor: &req.actor,
        reason: req.reason.as_deref(),
        evidence: json.as_ref(),
        // The evidence compared against this model: the move only stands if it is still there.
        expect_from: evidence
            .as_ref()
            .map(|_| current.as_ref().map(|c| c.version)),
    };
    let alias_move = match &req.target {
        Target::Version(v) => store.set_alias(&req.alias, *v, &audit)?,
        _ => store.promote_run(&candidate.id, &req.alias, &audit)?,
    };
    Ok(Promoted {
        alias_move,
        evidence,
        before_run,
    })
}

/// The finished run that ranks first by `metric`, in the metric's own direction; ties go to the
/// newest run.
pub fn best_run(store: &Store, metric: Metric) -> Result<RunSummary, PromoteError> {
    if metric.direction() == Direction::Unranked {
        return Err(PromoteError::Unranked {
            metric: metric.key(),
        });
    }
    let runs = store.list_runs().map_err(RegistryError::from)?;
    let mut scored: Vec<_> = runs
        .into_iter()
        .filter(|r| r.status == RunStatus::Finished)
        .filter_map(|r| r.metrics.get(metric.key()).copied().map(|v| (v, r)))
        .filter(|(v, _)| v.is_finite())
        .collect();
    scored.sort_by(|a, b| {
        metric
            .best_first(a.0, b.0)
            .then(b.1.created_at.cmp(&a.1.created_at))
    });
    scored
        .into_iter()
        .next()
        .map(|(_, r)| r)
        .ok_or(PromoteError::NoCandidate {
            metric: metric.key(),
        })
}

/// Weighs every rule of `policy` for moving `alias` to `candidate`.
pub fn weigh(
    store: &Store,
    cfg: &Config,
    policy: &Policy,
    alias: &str,
    candidate: &RunSummary,
) -> Result<Evidence, PromoteError> {
    let current = match store.alias_target(alias).map_err(RegistryError::from)? {
        Some(t) => Some((
            store.get_run(&t.run_id).map_err(RegistryError::from)?,
            t.version,
        )),
        None => None,
    };
    let candidate_version = store
        .model_versions()
        .map_err(RegistryError::from)?
        .into_iter()
        .find(|v| v.run_id == candidate.id)
        .map(|v| v.version);
    let bundle = store
        .artifacts(&candidate.id)
        .map_err(RegistryError::from)?
        .into_iter()
        .find(|a| a.name == "bundle");
    let loaded = bundle
        .as_ref()
        .map(|a| Bundle::load_registered(&cfg.artifacts_dir, &a.sha256, Some(&a.path)));
    let mut checks = Vec::new();
    if let Some(m) = policy.metric.as_deref().and_then(Metric::parse) {
        checks.push(beat_rule(
            store,
            cfg,
            policy,
            m,
            candidate,
            current.as_ref(),
        ));
    }
    if let Some(limit) = policy.max_drift_share {
        checks.push(match &loaded {
            Some(Ok(b)) => drift_rule(store, cfg, policy, limit, b),
            Some(Err(e)) => fail("max_drift_share", format!("the model cannot be read: {e}")),
            None => fail("max_drift_share", "the run has no model file".into()),
        });
    }
    if let Some(limit) = policy.max_model_mb {
        checks.push(match &bundle {
            Some(a) => {
                let mb = a.bytes as f64 / 1e6;
                Check {
                    verdict: if mb <= limit {
                        Verdict::Pass
                    } else {
                        Verdict::Fail
                    },
                    detail: format!("the model file is {mb:.2} MB; the limit is {limit} MB"),
                    measured: Some(mb),
                    limit: Some(limit),
                    ..check("max_model_mb")
                }
            }
            None => fail("max_model_mb", "the run has no model file".into()),
        });
    }
    if let Some(limit) = policy.max_predict_ms {
        checks.push(match &loaded {
            Some(Ok(b)) => latency_rule(cfg, limit, b),
            Some(Err(e)) => fail("max_predict_ms", format!("the model cannot be read: {e}")),
            None => fail("max_predict_ms", "the run has no model file".into()),
        });
    }
    if let Some(limit) = policy.worst_slice_roc_auc_drop {
        checks.push(slice_rules::slice_drop_rule(
            store,
            cfg,
            limit,
            candidate,
            current.as_ref(),
        ));
    }
    if let Some(limit) = policy.max_equalized_odds_difference {
        checks.push(slice_rules::equalized_odds_rule(store, limit, candidate));
    }
    Ok(Evidence {
        alias: alias.to_string(),
        candidate: Side::of(candidate, candidate_version),
        current: current.as_ref().map(|(r, v)| Side::of(r, Some(*v))),
        policy: policy.clone(),
        passed: checks.iter().all(|c| c.verdict != Verdict::Fail),
        checks,
        forced: false,
    })
}
