//! Properties of the explainers on random models: additivity, agreement with Shapley values
//! computed from their definition, and the refusals of models that cannot be explained.

use super::*;
use crate::data::rng::Rng;
use crate::features::{Encoder, FeaturePipeline};
use crate::models::tree::{Tree, LEAF};

/// Thresholds trees draw from, so that they share them (−0 and 0 among them).
const THRESHOLDS: [f64; 6] = [-1.5, -0.0, 0.0, 0.5, 2.0, 7.25];

/// A random tree of `leaves` leaves over `width` features, grown by splitting a random leaf;
/// covers are random whole weights at the leaves, summed upwards.
fn random_tree(rng: &mut Rng, leaves: usize, width: usize) -> Tree {
    let mut t = Tree {
        feature: vec![LEAF],
        threshold: vec![0.0],
        left: vec![0],
        right: vec![0],
        value: vec![rng.normal()],
        cover: vec![0.0],
    };
    while t.feature.len() < 2 * leaves - 1 {
        let open: Vec<usize> = (0..t.feature.len())
            .filter(|&i| t.feature[i] == LEAF)
            .collect();
        let i = open[rng.below(open.len() as u64) as usize];
        let n = t.feature.len() as u32;
        t.feature[i] = rng.below(width as u64) as u32;
        t.threshold[i] = THRESHOLDS[rng.below(THRESHOLDS.len() as u64) as usize];
        t.left[i] = n;
        t.right[i] = n + 1;
        for _ in 0..2 {
            t.feature.push(LEAF);
            t.threshold.push(0.0);
            t.left.push(0);
            t.right.push(0);
            t.value.push(rng.normal());
            t.cover.push(0.0);
        }
    }
    for i in (0..t.feature.len()).rev() {
        t.cover[i] = if t.feature[i] == LEAF {
            1.0 + rng.below(50) as f64
        } else {
            t.cover[t.left[i] as usize] + t.cover[t.right[i] as usize]
        };
    }
    t
}

/// A pipeline of `width` quantities `c0..`, each its own column.
fn pipeline(width: usize) -> FeaturePipeline {
    FeaturePipeline {
        encoders: (0..width)
            .map(|k| Encoder::Scaled {
                column: format!("c{k}"),
                mean: 0.0,
                std: 1.0,
                fill: 0.0,
                missing_slot: false,
            })
            .collect(),
    }
}

/// A row with values on the thresholds, between them, and missing.
fn random_row(rng: &mut Rng, width: usize) -> Vec<f64> {
    (0..width)
        .map(|_| match rng.below(4) {
            0 => THRESHOLDS[rng.below(THRESHOLDS.len() as u64) as usize],
            1 => f64::NAN,
            _ => 4.0 * rng.normal(),
        })
        .collect()
}

/// The path-dependent value of a coalition: the tree's output when the features in `known`
/// are the row's and the others follow the training cover (Lundberg et al. 2018, Alg. 1).
fn value_of(t: &Tree, x: &[f64], known: u32, node: usize) -> f64 {
    if t.feature[node] == LEAF {
        return t.value[node];
    }
    let f = t.feature[node] as usize;
    let (l, r) = (t.left[node] as usize, t.right[node] as usize);
    if known & (1 << f) != 0 {
        // A missing value fails `<=` and goes right, as in every walk.
        let next = if x[f] <= t.threshold[node] { l } else { r };
        value_of(t, x, known, next)
    } else {
        (t.cover[l] * value_of(t, x, known, l) + t.cover[r] * value_of(t, x, known, r))
            / t.cover[node]
    }
}

/// Shapley values from their definition, over every coalition of `width` features.
fn brute_force(t: &Tree, x: &[f64], width: usize) -> Vec<f64> {
    let fact = |n: usize| (1..=n).map(|k| k as f64).product::<f64>();
    let mut phi = vec![0.0; width];
    for (i, p) in phi.iter_mut().enumerate() {
        for s in 0u32..(1 << width) {
            if s & (1 << i) != 0 {
                continue;
            }
            let k = s.count_ones() as usize;
            let w = fact(k) * fact(width - k - 1) / fact(width);
            *p += w * (value_of(t, x, s | (1 << i), 0) - value_of(t, x, s, 0));
        }
    }
    phi
}

#[test]
fn tree_shap_is_the_shapley_value_of_the_path_dependent_game() {
    let mut rng = Rng::new(33);
    for case in 0..300 {
        let width = 1 + rng.below(5) as usize;
        let leaves = 1 + rng.below(12) as usize;
        let tree = random_tree(&mut rng, leaves, width);
        let model = Model::Tree { tree: tree.clone() };
        let e = Explainer::of_model(&model, None, &pipeline(width)).unwrap();
        let mut ws = e.workspace();
        for _ in 0..5 {
            let x = random_row(&mut rng, width);
            let mut phi = vec![0.0; width];
            let out = e.explain_row(&x, &mut ws, &mut phi);
            let want = brute_force(&tree, &x, width);
            for (a, b) in phi.iter().zip(&want) {
                assert!(
                    (a - b).abs() < 1e-9,
                    "case {case}: {phi:?} against {want:?}"
                );
            }
            let leaf = tree.predict_row(ndarray::ArrayView1::from(&x[..]));
            assert_eq!(out, leaf, "case {case}");
        }
    }
}

#[test]
fn values_add_up_to_the_margin_for_random_ensembles() {
    let mut rng = Rng::new(7);
    for case in 0..60 {
        let width = 1 + rng.below(30) as usize;
        let n_trees = 1 + rng.below(40) as usize;
        // Single leaves among them, and trees deeper than the features are wide.
        let trees: Vec<Tree> = (0..n_trees)
            .map(|_| {
                let leaves = 1 + rng.below(40) as usize;
                random_tree(&mut rng, leaves, width)
            })
            .collect();
        let base = rng.normal();
        for model in [
            Model::Gbdt {
                base_score: base,
                trees: trees.clone(),
            },
            Model::Forest {
                trees: trees.clone(),
            },
        ] {
            let e = Explainer::of_model(&model, None, &pipeline(width)).unwrap();
            let mut ws = e.workspace();
            let mut phi = vec![0.0; width];
            for _ in 0..20 {
                let x = random_row(&mut rng, width);
                let out = e.explain_row(&x, &mut ws, &mut phi);
                let sum: f64 = e.expected_value() + phi.iter().sum::<f64>();
                assert!((sum - out).abs() < 1e-9, "case {case}: {sum} against {out}");
                // The margin is the model's own: its probability is the model's.
                let dense = ndarray::Array2::from_shape_vec((1, width), x.clone()).unwrap();
                let p = model.predict_proba(dense.view())[0];
                let from_margin = match e.margin() {
                    Margin::LogOdds => crate::models::sigmoid(out),
                    Margin::Probability => out.clamp(0.0, 1.0),
                };
                assert!(
                    (p - from_margin).abs() < 1e-12,
                    "case {case}: {p} {from_margin}"
                );
            }
        }
    }
}

#[test]
fn a_single_leaf_explains_nothing_and_expects_its_value() {
    let leaf = Tree {
        feature: vec![LEAF],
        threshold: vec![0.0],
        left: vec![0],
        right: vec![0],
        value: vec![0.25],
        cover: vec![3.0],
    };
    let model = Model::Gbdt {
        base_score: -1.0,
        trees: vec![leaf.clone(), leaf],
    };
    let e = Explainer::of_model(&model, None, &pipeline(2)).unwrap();
    let mut phi = vec![9.0; 2];
    let out = e.explain_row(&[f64::NAN, 1.0], &mut e.workspace(), &mut phi);
    assert_eq!(phi, [0.0, 0.0]);
    assert_eq!(out, -0.5);
    assert_eq!(e.expected_value(), -0.5);
    // A leaf's work is one step per tree; what the server weighs before explaining inline.
    assert_eq!(e.work_per_row(), 2);
}

#[test]
fn linear_shap_is_weight_times_distance_from_the_mean() {
    let p = pipeline(3);
    let model = Model::Lr {
        weights: vec![0.5, -2.0, 0.0],
        intercept: 0.25,
    };
    let means = [1.0, -1.0, 3.0];
    let e = Explainer::of_model(&model, Some(&means), &p).unwrap();
    let mut phi = vec![0.0; 3];
    let out = e.explain_row(&[3.0, 0.5, 7.0], &mut e.workspace(), &mut phi);
    assert_eq!(phi, [1.0, -3.0, 0.0]);
    assert_eq!(e.expected_value(), 0.25 + 0.5 + 2.0);
    assert_eq!(out, 0.25 + 1.5 - 1.0);
    assert_eq!(e.margin(), Margin::LogOdds);
    assert_eq!(e.work_per_row(), 3);
    // Without means (an old bundle) or with the wrong number, it says what is missing.
    assert_eq!(
        Explainer::of_model(&model, None, &p).unwrap_err(),
        ExplainError::NoMeans
    );
    assert_eq!(
        Explainer::of_model(&model, Some(&means[..2]), &p).unwrap_err(),
        ExplainError::Width {
            got: 2,
            expected: 3
        }
    );
}

#[test]
fn trees_without_usable_covers_are_refused_by_name() {
    let mut rng = Rng::new(3);
    let good = random_tree(&mut rng, 4, 2);
    let mut old = good.clone();
    old.cover.clear();
    let model = |t: &Tree| Model::Forest {
        trees: vec![good.clone(), t.clone()],
    };
    let p = pipeline(2);
    assert_eq!(
        Explainer::of_model(&model(&old), None, &p).unwrap_err(),
        ExplainError::NoCover { tree: 1 }
    );
    let mut zero = good.clone();
    let leaf = (0..zero.feature.len())
        .find(|&i| zero.feature[i] == LEAF)
        .unwrap();
    zero.cover[leaf] = 0.0;
    assert_eq!(
        Explainer::of_model(&model(&zero), None, &p).unwrap_err(),
        ExplainError::Cover {
            tree: 1,
            node: leaf
        }
    );
    zero.cover[leaf] = f64::NAN;
    assert!(Explainer::of_model(&model(&zero), None, &p).is_err());
    let mut short = good.clone();
    short.cover.pop();
    assert!(matches!(
        Explainer::of_model(&model(&short), None, &p),
        Err(ExplainError::Cover { tree: 1, .. })
    ));
}

#[test]
fn values_roll_up_to_spec_columns_and_the_top_ones_come_first() {
    let p = FeaturePipeline {
        encoders: vec![
            Encoder::OneHot {
                column: "colour".into(),
                levels: vec!["red".into(), "blue".into()],
                missing_slot: true,
            },
            Encoder::Scaled {
                column: "size".into(),
                mean: 0.0,
                std: 1.0,
                fill: 0.0,
                missing_slot: true,
            },
        ],
    };
    let model = Model::Lr {
        weights: vec![1.0; 5],
        intercept: 0.0,
    };
    let e = Explainer::of_model(&model, Some(&[0.0; 5]), &p).unwrap();
    assert_eq!(e.columns(), ["colour", "size"]);
    let mut by = vec![0.0; 2];
    e.by_column(&[0.5, -0.25, 1.0, 2.0, -4.0], &mut by);
    assert_eq!(by, [1.25, -2.0]);
    assert_eq!(top_k(&[0.1, -3.0, 0.0, 3.0, 2.0], 3), [1, 3, 4]);
    assert_eq!(top_k(&[0.0, 0.0], 5), Vec::<usize>::new());
    assert_eq!(top_k(&[1.0, 2.0], 0), Vec::<usize>::new());
}

#[test]
fn feature_means_count_slots_and_average_quantities() {
    let p = FeaturePipeline {
        encoders: vec![
            Encoder::OneHot {
                column: "colour".into(),
                levels: vec!["red".into(), "blue".into()],
                missing_slot: false,
            },
            Encoder::Scaled {
                column: "size".into(),
                mean: 0.0,
                std: 1.0,
                fill: 0.0,
                missing_slot: false,
            },
        ],
    };
    let x = ndarray::array![
        [1.0, 0.0, 2.0],
        [0.0, 1.0, 4.0],
        [0.0, 0.0, -3.0],
        [1.0, 0.0, 1.0]
    ];
    let enc = Encoded::from_dense(x.view(), &p.groups());
    assert_eq!(feature_means(&enc), [0.5, 0.25, 1.0]);
}
