//! staytrack's tree models in shap's TreeExplainer dict format (`children_left`,
//! `children_right`, `children_default`, `features`, `thresholds`, `values`,
//! `node_sample_weight`), so shap can explain the very trees staytrack explains: what the
//! reference fixtures (`tests/fixtures/make_shap_fixture.py`) are made from.

use serde::Serialize;

use super::{treeshap::ShapTree, ExplainError, Margin};
use crate::models::tree::{Tree, LEAF};
use crate::models::Model;

/// One tree in shap's dict format. Leaves have children −1 and feature −2, as scikit-learn
/// writes them; a missing value goes right (`children_default`), as staytrack's walk sends it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShapTreeDict {
    pub children_left: Vec<i64>,
    pub children_right: Vec<i64>,
    pub children_default: Vec<i64>,
    pub features: Vec<i64>,
    pub thresholds: Vec<f64>,
    /// Each node's value already multiplied by the tree's share of the output (1 / trees for a
    /// forest); shap recomputes internal nodes' values from their leaves and covers.
    pub values: Vec<f64>,
    pub node_sample_weight: Vec<f64>,
}

/// A tree ensemble in shap's dict format: its trees and the offset added to their sum.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShapEnsemble {
    pub trees: Vec<ShapTreeDict>,
    pub base_offset: f64,
    pub margin: Margin,
}

/// `model`'s trees for shap, or `None` for the linear families (shap's LinearExplainer reads
/// their weights directly).
pub fn to_shap(model: &Model) -> Result<Option<ShapEnsemble>, ExplainError> {
    let (trees, scale, base, margin): (&[Tree], f64, f64, Margin) = match model {
        Model::Lr { .. } | Model::LinfaLr { .. } => return Ok(None),
        Model::Tree { tree } | Model::LinfaTree { tree } => {
            (std::slice::from_ref(tree), 1.0, 0.0, Margin::Probability)
        }
        Model::Forest { trees } => (
            trees.as_slice(),
            1.0 / trees.len().max(1) as f64,
            0.0,
            Margin::Probability,
        ),
        Model::Gbdt { base_score, trees } => (trees.as_slice(), 1.0, *base_score, Margin::LogOdds),
    };
    let mut out = Vec::with_capacity(trees.len());
    for (i, t) in trees.iter().enumerate() {
        let covers = ShapTree::new(t, i)?.covers().to_vec();
        let child = |c: u32, f: u32| if f == LEAF { -1 } else { i64::from(c) };
        out.push(ShapTreeDict {
            children_left: t
                .left
                .iter()
                .zip(&t.feature)
                .map(|(&c, &f)| child(c, f))
                .collect(),
            children_right: t
                .right
                .iter()
                .zip(&t.feature)
                .map(|(&c, &f)| child(c, f))
                .collect(),
            children_default: t
                .right
                .iter()
                .zip(&t.feature)
                .map(|(&c, &f)| child(c, f))
                .collect(),
            features: t
                .feature
                .iter()
                .map(|&f| if f == LEAF { -2 } else { i64::from(f) })
                .collect(),
            thresholds: t
                .threshold
                .iter()
                .zip(&t.feature)
                .map(|(&x, &f)| if f == LEAF { -2.0 } else { x })
                .collect(),
            values: t.value.iter().map(|v| v * scale).collect(),
            node_sample_weight: covers,
        });
    }
    Ok(Some(ShapEnsemble {
        trees: out,
        base_offset: base,
        margin,
    }))
}

/// What `write_bench_export` wrote.
#[derive(Debug, Clone, Serialize)]
pub struct BenchExport {
    pub rows: usize,
    pub n_features: usize,
    /// Rows whose staytrack values were written beside them, for the peer to compare.
    pub compared_rows: usize,
}

/// Rows of staytrack's own values a bench export carries for the peer to compare against.
const COMPARED_ROWS: usize = 1000;

/// Writes what shap's C++ TreeExplainer needs to explain the same rows as `explain FILE` with
/// the model behind `alias`, into the folder `dir` (made when missing): `model.json` (the trees
/// in shap's dict format, the rows' count and width), `rows.f64` (every encoded row of `input`,
/// little-endian, row after row; read a chunk at a time, so memory stays flat) and
/// `staytrack.f64` (staytrack's values for the first rows). What `bench/explain.sh` compares.
pub fn write_bench_export(
    cfg: &crate::config::Config,
    input: &std::path::Path,
    alias: &str,
    dir: &std::path::Path,
) -> anyhow::Result<BenchExport> {
    use anyhow::Context;
    use std::io::Write;
    let (_, bundle, explainer) = super::file::load(cfg, alias)?;
    let shap = to_shap(&bundle.model)?.context(
        "explain --export-shap: the model has no trees (shap's LinearExplainer reads weights)",
    )?;
    crate::util::create_private_dir(dir)?;
    let open = |name: &str| -> anyhow::Result<std::io::BufWriter<std::fs::File>> {
        let path = dir.join(name);
        let f =
            std::fs::File::create(&path).with_context(|| format!("writing {}", path.display()))?;
        Ok(std::io::BufWriter::with_capacity(1 << 20, f))
    };
    let (mut rows_out, mut ours) = (open("rows.f64")?, open("staytrack.f64")?);
    let n_features = explainer.n_features();
    let (mut rows, mut compared) = (0, 0);
    let mut ws = explainer.workspace();
    let mut phi = vec![0.0; n_features];
    for chunk in crate::data::chunks::CsvChunks::open(input, crate::score::CHUNK)? {
        let frame = chunk?.parse(input, &bundle.spec, crate::data::Labels::Optional)?;
        let x = bundle.pipeline.encode(&frame)?;
        let dense = x.dense(0..x.n_rows());
        for row in dense.rows() {
            for v in row.iter() {
                rows_out.write_all(&v.to_le_bytes())?;
            }
            if compared < COMPARED_ROWS {
                let row = row.to_vec();
                explainer.explain_row(&row, &mut ws, &mut phi);
                for v in &phi {
                    ours.write_all(&v.to_le_bytes())?;
                }
                compared += 1;
            }
        }
        rows += x.n_rows();
    }
    rows_out.flush()?;
    ours.flush()?;
    let out = BenchExport {
        rows,
        n_features,
        compared_rows: compared,
    };
    let model = serde_json::json!({ "shap": shap, "export": out, "expected_value": explainer.expected_value() });
    std::fs::write(dir.join("model.json"), serde_json::to_vec(&model)?)?;
    Ok(out)
}
