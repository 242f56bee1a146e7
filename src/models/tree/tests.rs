use super::*;
use ndarray::Array2;

#[test]
fn hostile_trees_are_refused() {
    let good = Tree {
        feature: vec![0, LEAF, LEAF],
        threshold: vec![0.5, 0.0, 0.0],
        left: vec![1, 0, 0],
        right: vec![2, 0, 0],
        value: vec![0.0, 0.2, 0.8],
        cover: Vec::new(),
    };
    assert!(good.validate(1).is_ok());
    assert_eq!(good.depth(), 1);
    let mut cyclic = good.clone();
    cyclic.left[0] = 0;
    assert!(cyclic
        .validate(1)
        .unwrap_err()
        .to_string()
        .contains("not a later node"));
    let mut out = good.clone();
    out.right[0] = 9;
    assert_eq!(
        out.validate(1),
        Err(TreeError::Child {
            node: 0,
            child: 9,
            nodes: 3
        })
    );
    let mut shared = good.clone();
    shared.right[0] = 1;
    assert_eq!(shared.validate(1), Err(TreeError::Parents { node: 1 }));
    assert!(good
        .validate(0)
        .unwrap_err()
        .to_string()
        .contains("feature 0 of 0"));
    let mut nan = good.clone();
    nan.value[2] = f64::NAN;
    assert_eq!(nan.validate(1), Err(TreeError::LeafValue { node: 2 }));
    let mut short = good.clone();
    short.value.pop();
    assert_eq!(short.validate(1), Err(TreeError::Ragged));
    assert_eq!(Tree::default().validate(1), Err(TreeError::NoNodes));
}

#[test]
fn edges_put_equal_values_in_one_bin() {
    let e = quantile_edges([1.0, 1.0, 2.0, 3.0].into_iter(), 255);
    assert_eq!(e, vec![1.5, 2.5]);
    let many = quantile_edges((0..10_000).map(|i| (i % 1000) as f64), 10);
    assert!(many.len() <= 9 && many.windows(2).all(|w| w[0] < w[1]));
}

#[test]
fn walking_rows_side_by_side_reaches_the_leaves_one_at_a_time_does() {
    // An uneven tree: a leaf at depth 1, others at depth 3; values on thresholds and NaN.
    let tree = Tree {
        feature: vec![0, LEAF, 1, 2, LEAF, LEAF, LEAF],
        threshold: vec![0.5, 0.0, 2.0, -1.0, 0.0, 0.0, 0.0],
        left: vec![1, 0, 3, 5, 0, 0, 0],
        right: vec![2, 0, 4, 6, 0, 0, 0],
        value: vec![0.0, 0.1, 0.0, 0.0, 0.4, 0.2, 0.3],
        cover: Vec::new(),
    };
    tree.validate(3).unwrap();
    let cases: Vec<[f64; 3]> = vec![
        [0.0, 0.0, 0.0],
        [0.5, 9.0, 9.0],
        [1.0, 2.0, -1.0],
        [1.0, 2.0, -0.5],
        [1.0, 3.0, 0.0],
        [f64::NAN, 0.0, 0.0],
        [1.0, f64::NAN, 0.0],
        [1.0, 0.0, f64::NAN],
        [-1e300, 1e300, -1e300],
    ];
    // The same tree with its nodes stored in another order, and a tree of one leaf.
    let shuffled = Tree {
        feature: vec![0, 1, LEAF, 2, LEAF, LEAF, LEAF],
        threshold: vec![0.5, 2.0, 0.0, -1.0, 0.0, 0.0, 0.0],
        left: vec![2, 3, 0, 5, 0, 0, 0],
        right: vec![1, 4, 0, 6, 0, 0, 0],
        value: vec![0.0, 0.0, 0.1, 0.0, 0.4, 0.2, 0.3],
        cover: Vec::new(),
    };
    let leaf = Tree {
        feature: vec![LEAF],
        threshold: vec![0.0],
        left: vec![0],
        right: vec![0],
        value: vec![0.7],
        cover: Vec::new(),
    };
    for tree in [&tree, &shuffled, &leaf] {
        let walker = tree.walker();
        for chunk in cases.chunks(BLOCK) {
            let rows: [&[f64]; BLOCK] = std::array::from_fn(|k| &chunk[k.min(chunk.len() - 1)][..]);
            let mut sums = [0.0; BLOCK];
            walker.add_block(&rows, &mut sums);
            for (k, row) in chunk.iter().enumerate() {
                let one = tree.predict_row(ndarray::ArrayView1::from(&row[..]));
                assert_eq!(sums[k], one, "{row:?}");
            }
        }
    }
}

#[test]
fn a_gini_tree_separates_a_threshold_exactly() {
    // y = 1 when x0 > 0.5, with x1 one-hot noise.
    let n = 200;
    let mut x = Array2::zeros((n, 3));
    let mut y = vec![0.0; n];
    for i in 0..n {
        x[[i, 0]] = i as f64 / n as f64;
        x[[i, 1 + i % 2]] = 1.0;
        y[i] = (x[[i, 0]] > 0.5) as u8 as f64;
    }
    let groups = [
        FeatureGroup::Numeric { index: 0 },
        FeatureGroup::OneHot {
            offset: 1,
            width: 2,
        },
    ];
    let b = Binned::new(
        &crate::features::Encoded::from_dense(x.view(), &groups),
        255,
    );
    let mut rows: Vec<u32> = (0..n as u32).collect();
    let h = vec![1.0; n];
    let p = GrowParams {
        criterion: Criterion::Gini,
        max_depth: 3,
        max_leaves: 8,
        min_samples_leaf: 1,
        min_child_weight: 0.0,
        min_gain: 1e-12,
        groups_per_node: None,
        shrinkage: 1.0,
    };
    let grown = grow(&b, &mut rows, &y, &h, &p, &mut Rng::new(1));
    let t = grown.tree;
    assert_eq!(t.n_leaves(), 2, "one split suffices");
    assert_eq!(t.feature[0], 0);
    let lookup = split_lookup(&b, 3);
    for (i, &yi) in y.iter().enumerate() {
        assert_eq!(t.predict_row(x.row(i)), yi);
        assert_eq!(predict_binned(&t, &b, &lookup, i), yi);
    }
}
