//! Families and their hyper-parameters: names, defaults, ranges, and parsing of `key=value`.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    Lr,
    Tree,
    Forest,
    Gbdt,
    /// linfa-logistic's logistic regression: a reference beside staytrack's own.
    #[serde(rename = "linfa-lr")]
    LinfaLr,
    /// linfa-trees' decision tree: a reference beside staytrack's own.
    #[serde(rename = "linfa-tree")]
    LinfaTree,
    /// A run logged through the MLflow tracking API: trained elsewhere, no staytrack model.
    /// Never in `ALL`, so nothing offers to train it.
    External,
}

impl Family {
    /// Every family, staytrack's engines first.
    pub const ALL: [Family; 6] = [
        Family::Lr,
        Family::Tree,
        Family::Forest,
        Family::Gbdt,
        Family::LinfaLr,
        Family::LinfaTree,
    ];
    /// staytrack's own engines: what `--model all` trains.
    pub const ENGINES: [Family; 4] = [Family::Lr, Family::Tree, Family::Forest, Family::Gbdt];

    pub fn name(self) -> &'static str {
        match self {
            Family::Lr => "lr",
            Family::Tree => "tree",
            Family::Forest => "forest",
            Family::Gbdt => "gbdt",
            Family::LinfaLr => "linfa-lr",
            Family::LinfaTree => "linfa-tree",
            Family::External => "external",
        }
    }

    pub fn parse(s: &str) -> Option<Family> {
        Family::ALL.into_iter().find(|f| f.name() == s)
    }

    /// A family as the store keeps it: every trainable one, or `external`.
    pub fn from_stored(s: &str) -> Option<Family> {
        Family::parse(s).or((s == "external").then_some(Family::External))
    }

    pub fn title(self) -> &'static str {
        match self {
            Family::Lr => "logistic regression",
            Family::Tree => "decision tree",
            Family::Forest => "random forest",
            Family::Gbdt => "gradient-boosted trees",
            Family::LinfaLr => "logistic regression (linfa-logistic)",
            Family::LinfaTree => "decision tree (linfa-trees)",
            Family::External => "trained elsewhere (MLflow API)",
        }
    }

    /// The parameters of the family with their defaults, chosen so that a plain
    /// `staytrack train` trains every family well on the hospital data.
    pub fn specs(self) -> &'static [ParamSpec] {
        match self {
            Family::Lr => LR_PARAMS,
            Family::Tree => TREE_PARAMS,
            Family::Forest => FOREST_PARAMS,
            Family::Gbdt => GBDT_PARAMS,
            Family::LinfaLr => LINFA_LR_PARAMS,
            Family::LinfaTree => LINFA_TREE_PARAMS,
            Family::External => &[],
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, Copy)]
pub struct ParamSpec {
    pub key: &'static str,
    pub default: f64,
    pub min: f64,
    pub max: f64,
    pub integer: bool,
    pub help: &'static str,
}

impl ParamSpec {
    const fn float(
        key: &'static str,
        default: f64,
        min: f64,
        max: f64,
        help: &'static str,
    ) -> Self {
        ParamSpec {
            key,
            default,
            min,
            max,
            integer: false,
            help,
        }
    }

    const fn int(key: &'static str, default: i64, min: i64, max: i64, help: &'static str) -> Self {
        ParamSpec {
            key,
            default: default as f64,
            min: min as f64,
            max: max as f64,
            integer: true,
            help,
        }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParamError {
    #[error("{family} has no parameter '{key}' (it has: {known})")]
    Unknown {
        family: Family,
        key: String,
        known: String,
    },
    #[error("{family} parameter '{key}': '{value}' is not {expected}")]
    BadValue {
        family: Family,
        key: String,
        value: String,
        expected: String,
    },
}

/// A complete, validated parameter set of one family.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Params {
    pub family: Family,
    pub values: BTreeMap<String, f64>,
}

impl Params {
    pub fn defaults(family: Family) -> Params {
        Params {
            family,
            values: family
                .specs()
                .iter()
                .map(|s| (s.key.to_string(), s.default))
                .collect(),
        }
    }

    /// Defaults overridden by `given` (`key`, `value` text).
    pub fn resolve(family: Family, given: &[(String, String)]) -> Result<Params, ParamError> {
        let mut p = Params::defaults(family);
        for (k, v) in given {
            p.set(k, v)?;
        }
        Ok(p)
    }

    pub fn set(&mut self, key: &str, value: &str) -> Result<(), ParamError> {
        let family = self.family;
        let spec = family
            .specs()
            .iter()
            .find(|s| s.key == key)
            .ok_or_else(|| ParamError::Unknown {
                family,
                key: key.to_string(),
                known: family
                    .specs()
                    .iter()
                    .map(|s| s.key)
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        let expected = || {
            let kind = if spec.integer {
                "an integer"
            } else {
                "a number"
            };
            ParamError::BadValue {
                family,
                key: key.to_string(),
                value: value.to_string(),
                expected: format!("{kind} in {}..={}", spec.min, spec.max),
            }
        };
        let x: f64 = value.trim().parse().map_err(|_| expected())?;
        if !x.is_finite() || x < spec.min || x > spec.max || (spec.integer && x.fract() != 0.0) {
            return Err(expected());
        }
        self.values.insert(key.to_string(), x);
        Ok(())
    }

    /// A parameter's value; the key must be one of the family's.
    pub fn get(&self, key: &str) -> f64 {
        self.values[key]
    }

    pub fn usize(&self, key: &str) -> usize {
        self.get(key) as usize
    }

    /// Values as text, integers without a fraction, for storage and display.
    pub fn as_strings(&self) -> Vec<(String, String)> {
        let specs = self.family.specs();
        self.values
            .iter()
            .map(|(k, v)| {
                let integer = specs.iter().any(|s| s.key == k && s.integer);
                let text = if integer {
                    format!("{}", *v as i64)
                } else {
                    format!("{v}")
                };
                (k.clone(), text)
            })
            .collect()
    }
}

const LR_PARAMS: &[ParamSpec] = &[
    ParamSpec::float(
        "c",
        1.0,
        1e-6,
        1e6,
        "inverse L2 strength, as scikit-learn's C",
    ),
    ParamSpec::int("max_iter", 100, 1, 100_000, "L-BFGS iterations at most"),
    ParamSpec::float(
        "tol",
        1e-4,
        1e-12,
        1.0,
        "stop when every gradient component is below this",
    ),
];

const LINFA_LR_PARAMS: &[ParamSpec] = &[
    ParamSpec::float(
        "alpha",
        1.0,
        0.0,
        1e6,
        "L2 penalty, as linfa-logistic's alpha",
    ),
    ParamSpec::int(
        "max_iterations",
        100,
        1,
        100_000,
        "L-BFGS iterations at most",
    ),
    ParamSpec::float(
        "gradient_tolerance",
        1e-4,
        1e-12,
        1.0,
        "stop when the gradient's norm is below this",
    ),
];

const LINFA_TREE_PARAMS: &[ParamSpec] = &[
    ParamSpec::int("max_depth", 10, 0, 64, "depth limit (0: none)"),
    ParamSpec::float(
        "min_weight_split",
        2.0,
        1.0,
        1e9,
        "rows a node needs to split",
    ),
    ParamSpec::float("min_weight_leaf", 20.0, 1.0, 1e9, "rows per leaf at least"),
    ParamSpec::float(
        "min_impurity_decrease",
        1e-5,
        0.0,
        1.0,
        "a split must lower the Gini impurity by this much",
    ),
];

const TREE_PARAMS: &[ParamSpec] = &[
    ParamSpec::int("max_depth", 10, 1, 64, "depth limit"),
    ParamSpec::int(
        "min_samples_leaf",
        100,
        1,
        1_000_000,
        "rows per leaf at least",
    ),
    ParamSpec::int("max_leaves", 256, 2, 1_000_000, "leaves at most"),
    ParamSpec::int("max_bins", 255, 2, 65_535, "bins per numeric feature"),
];

const FOREST_PARAMS: &[ParamSpec] = &[
    ParamSpec::int("n_trees", 50, 1, 10_000, "trees"),
    ParamSpec::int("max_depth", 16, 1, 64, "depth limit"),
    ParamSpec::int(
        "min_samples_leaf",
        10,
        1,
        1_000_000,
        "rows per leaf at least",
    ),
    ParamSpec::int("max_leaves", 4096, 2, 1_000_000, "leaves per tree at most"),
    ParamSpec::int(
        "max_features",
        0,
        0,
        10_000,
        "feature groups tried per split (0: square root of their number)",
    ),
    ParamSpec::float(
        "sample_fraction",
        1.0,
        0.01,
        1.0,
        "bootstrap sample size / rows",
    ),
    ParamSpec::int("max_bins", 255, 2, 65_535, "bins per numeric feature"),
];

const GBDT_PARAMS: &[ParamSpec] = &[
    ParamSpec::int("n_rounds", 1000, 1, 100_000, "boosting rounds at most"),
    ParamSpec::float("learning_rate", 0.3, 1e-4, 1.0, "shrinkage per round"),
    ParamSpec::int("max_leaves", 31, 2, 100_000, "leaves per tree at most"),
    ParamSpec::int("max_depth", 12, 1, 64, "depth limit"),
    ParamSpec::int(
        "min_samples_leaf",
        20,
        1,
        1_000_000,
        "rows per leaf at least",
    ),
    ParamSpec::float("lambda", 1.0, 0.0, 1e6, "L2 penalty on leaf values"),
    ParamSpec::float(
        "min_child_weight",
        1e-3,
        0.0,
        1e6,
        "hessian per leaf at least",
    ),
    ParamSpec::float("subsample", 1.0, 0.01, 1.0, "rows sampled per round"),
    ParamSpec::int(
        "early_stopping_rounds",
        30,
        0,
        100_000,
        "stop after this many rounds without hold-out improvement (0: never)",
    ),
    ParamSpec::float(
        "holdout_fraction",
        0.1,
        0.0,
        0.5,
        "training rows held out for early stopping (never the validation split)",
    ),
    ParamSpec::int("max_bins", 255, 2, 65_535, "bins per numeric feature"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_overrides_are_checked() {
        for f in Family::ALL {
            let d = Params::defaults(f);
            for s in f.specs() {
                assert!(s.default >= s.min && s.default <= s.max, "{f} {}", s.key);
                assert_eq!(d.get(s.key), s.default);
            }
        }
        let p = Params::resolve(Family::Gbdt, &[("learning_rate".into(), "0.05".into())]).unwrap();
        assert_eq!(p.get("learning_rate"), 0.05);
        let e = Params::resolve(Family::Gbdt, &[("eta".into(), "0.1".into())]).unwrap_err();
        assert!(e.to_string().contains("gbdt has no parameter 'eta'"), "{e}");
        let e = Params::resolve(Family::Forest, &[("n_trees".into(), "2.5".into())]).unwrap_err();
        assert!(e.to_string().contains("'2.5' is not an integer"), "{e}");
        assert!(Params::resolve(Family::Lr, &[("c".into(), "-1".into())]).is_err());
        assert!(Params::resolve(Family::Lr, &[("c".into(), "NaN".into())]).is_err());
        assert_eq!(Family::parse("forest"), Some(Family::Forest));
        assert_eq!(Family::parse("svm"), None);
    }
}
