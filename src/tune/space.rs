//! Search spaces: each family's default ranges, a `[tune]` file's spaces and their checks, and
//! drawing a parameter set from one.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::data::rng::Rng;
use crate::models::{Family, Params};

/// One parameter's search range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Dim {
    Fixed(f64),
    Choice(Vec<f64>),
    Range {
        min: f64,
        max: f64,
        #[serde(default)]
        log: bool,
    },
}

/// A family's search space: a range per parameter; parameters left out keep their defaults.
pub type Space = BTreeMap<String, Dim>;

/// The space searched unless `[tune.<family>]` or `--space` says otherwise: the parameters that
/// move ROC AUC most on tabular data, over ranges that stay inside the budget on two cores.
pub fn default_space(f: Family) -> Space {
    let r = |min, max, log| Dim::Range { min, max, log };
    let mut s = Space::new();
    match f {
        Family::Lr => {
            s.insert("c".into(), r(1e-3, 1e2, true));
        }
        Family::Tree => {
            s.insert("max_depth".into(), r(4.0, 24.0, false));
            s.insert("min_samples_leaf".into(), r(10.0, 1000.0, true));
            s.insert("max_leaves".into(), r(32.0, 2048.0, true));
        }
        Family::Forest => {
            s.insert("n_trees".into(), r(30.0, 200.0, true));
            s.insert("max_depth".into(), r(8.0, 32.0, false));
            s.insert("min_samples_leaf".into(), r(1.0, 100.0, true));
            s.insert("sample_fraction".into(), r(0.4, 1.0, false));
        }
        Family::LinfaLr => {
            s.insert("alpha".into(), r(1e-3, 1e2, true));
        }
        Family::LinfaTree => {
            s.insert("max_depth".into(), r(4.0, 20.0, false));
            s.insert("min_weight_leaf".into(), r(5.0, 500.0, true));
        }
        Family::Gbdt => {
            s.insert("learning_rate".into(), r(0.05, 0.2, true));
            s.insert("max_leaves".into(), r(15.0, 63.0, true));
            s.insert("min_samples_leaf".into(), r(10.0, 200.0, true));
            s.insert("lambda".into(), r(0.3, 10.0, true));
            s.insert("subsample".into(), r(0.6, 1.0, false));
            s.insert("n_rounds".into(), Dim::Fixed(3000.0));
            s.insert("early_stopping_rounds".into(), Dim::Fixed(50.0));
        }
        // Nothing to search: staytrack does not train it.
        Family::External => {}
    }
    s
}

/// Why a search space cannot be searched: the family and parameter, and the range it takes.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SpaceError {
    #[error("{family}: no parameter '{key}' (it has: {})", .known.join(", "))]
    UnknownParameter {
        family: Family,
        key: String,
        known: Vec<&'static str>,
    },
    #[error("{family}.{key}: {problem} (the parameter takes {min}..={max})")]
    OutOfRange {
        family: Family,
        key: String,
        problem: DimProblem,
        min: f64,
        max: f64,
    },
}

/// What is wrong with one parameter's `Dim`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DimProblem {
    #[error("{0} is out of range")]
    Fixed(f64),
    #[error("an empty list")]
    EmptyChoice,
    #[error("{0:?} has a value out of range")]
    Choice(Vec<f64>),
    #[error("min {min} and max {max} are not a range inside it")]
    Range { min: f64, max: f64 },
    #[error("a log range needs min above 0")]
    LogFromZero,
}

/// Checks a space against the family's parameters: known keys, values inside each range.
pub fn check_space(f: Family, space: &Space) -> Result<(), SpaceError> {
    for (k, d) in space {
        let spec =
            f.specs()
                .iter()
                .find(|s| s.key == k)
                .ok_or_else(|| SpaceError::UnknownParameter {
                    family: f,
                    key: k.clone(),
                    known: f.specs().iter().map(|s| s.key).collect(),
                })?;
        let inside = |v: f64| v.is_finite() && v >= spec.min && v <= spec.max;
        let bad = |problem: DimProblem| {
            Err(SpaceError::OutOfRange {
                family: f,
                key: k.clone(),
                problem,
                min: spec.min,
                max: spec.max,
            })
        };
        match d {
            Dim::Fixed(v) if !inside(*v) => return bad(DimProblem::Fixed(*v)),
            Dim::Choice(vs) if vs.is_empty() => return bad(DimProblem::EmptyChoice),
            Dim::Choice(vs) if !vs.iter().all(|v| inside(*v)) => {
                return bad(DimProblem::Choice(vs.clone()))
            }
            Dim::Range { min, max, log } => {
                if !(inside(*min) && inside(*max) && min <= max) {
                    return bad(DimProblem::Range {
                        min: *min,
                        max: *max,
                    });
                }
                if *log && *min <= 0.0 {
                    return bad(DimProblem::LogFromZero);
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// The spaces for `families`: the defaults, then `[tune.<family>]` of the settings file, then
/// `file` (tables named by family), key by key.
pub fn load_spaces(
    cfg: &Config,
    file: Option<&Path>,
    families: &[Family],
) -> anyhow::Result<BTreeMap<Family, Space>> {
    #[derive(Deserialize, Default)]
    struct Settings {
        #[serde(default)]
        tune: BTreeMap<String, Space>,
    }
    let mut layers: Vec<(String, BTreeMap<String, Space>)> = Vec::new();
    if let Some(text) = cfg.read_settings()? {
        let s: Settings = toml::from_str(&text)
            .map_err(|e| anyhow::anyhow!("{}: {e}", cfg.settings_file().display()))?;
        layers.push((format!("{} [tune]", cfg.settings_file().display()), s.tune));
    }
    if let Some(f) = file {
        let text = std::fs::read_to_string(f)
            .map_err(|e| anyhow::anyhow!("{}: cannot read the space file: {e}", f.display()))?;
        let s: BTreeMap<String, Space> =
            toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", f.display()))?;
        layers.push((f.display().to_string(), s));
    }
    let mut out = BTreeMap::new();
    for f in families {
        out.insert(*f, default_space(*f));
    }
    for (origin, layer) in layers {
        for (name, space) in layer {
            let f = Family::parse(&name).ok_or_else(|| {
                anyhow::anyhow!("{origin}: '{name}' is not a family (lr, tree, forest, gbdt)")
            })?;
            check_space(f, &space).map_err(|e| anyhow::anyhow!("{origin}: {e}"))?;
            if let Some(s) = out.get_mut(&f) {
                s.extend(space);
            }
        }
    }
    Ok(out)
}

/// A parameter set drawn from `space`, integers rounded, validated by the family's rules.
pub fn sample(f: Family, space: &Space, rng: &mut Rng) -> Params {
    let mut p = Params::defaults(f);
    for (k, d) in space {
        let v = match d {
            Dim::Fixed(v) => *v,
            Dim::Choice(vs) => vs[rng.below(vs.len() as u64) as usize],
            Dim::Range { min, max, log } => {
                let u = rng.f64();
                if *log {
                    (min.ln() + u * (max.ln() - min.ln())).exp()
                } else {
                    min + u * (max - min)
                }
            }
        };
        let integer = f.specs().iter().any(|s| s.key == k && s.integer);
        let v = if integer { v.round() } else { v };
        // Checked by `check_space`; a value the family still refuses keeps the default.
        let _ = p.set(k, &format!("{v}"));
    }
    p
}
