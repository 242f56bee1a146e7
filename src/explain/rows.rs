//! Explanations of a few rows as answers carry them (the server's `explain` parameter): each
//! row's top columns with their values and contributions, and the parameter's checks.

use serde::Serialize;
use serde_json::Value;

use super::{cell_value, top_k, Explainer};
use crate::data::Frame;
use crate::features::{FeatureError, FeaturePipeline};

/// One column's part in a row's margin.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Contribution {
    pub column: String,
    /// The row's value of the column as sent (null when missing).
    pub value: Value,
    pub contribution: f64,
}

/// One row's explanation: what its contributions start from, in which scale, and its top
/// columns, largest |contribution| first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RowExplanation {
    pub margin: &'static str,
    pub expected_value: f64,
    pub top: Vec<Contribution>,
}

/// The top `k` columns of every row of `frame`, explained by `explainer` over `pipeline`'s
/// encoding (the one that made the row's probability).
pub fn explain_frame(
    explainer: &Explainer,
    pipeline: &FeaturePipeline,
    frame: &Frame,
    k: usize,
) -> Result<Vec<RowExplanation>, FeatureError> {
    let x = pipeline.encode(frame)?;
    let dense = x.dense(0..x.n_rows());
    let mut ws = explainer.workspace();
    let mut phi = vec![0.0; explainer.n_features()];
    let mut by = vec![0.0; explainer.columns().len()];
    let mut out = Vec::with_capacity(frame.n_rows());
    for (i, row) in dense.rows().into_iter().enumerate() {
        let row = row.to_vec();
        explainer.explain_row(&row, &mut ws, &mut phi);
        explainer.by_column(&phi, &mut by);
        let top = top_k(&by, k)
            .into_iter()
            .map(|c| {
                let column = explainer.columns()[c].clone();
                Contribution {
                    value: cell_value(frame, &column, i),
                    column,
                    contribution: by[c],
                }
            })
            .collect();
        out.push(RowExplanation {
            margin: explainer.margin().name(),
            expected_value: explainer.expected_value(),
            top,
        });
    }
    Ok(out)
}

/// A JSON `explain` parameter (`field` names where it was): a whole number from 1 to
/// `MAX_TOP`, sent as a number or as text (MLflow's and OIP's parameters often travel as
/// text). Null means not asked.
pub fn top_from_json(field: &'static str, v: &Value) -> Result<Option<usize>, super::TopError> {
    match v {
        Value::Null => Ok(None),
        Value::Number(n) => match n.as_u64() {
            Some(k) => super::parse_top(field, &k.to_string()).map(Some),
            None => Err(super::TopError {
                field,
                got: n.to_string(),
                max: super::MAX_TOP,
            }),
        },
        Value::String(s) => super::parse_top(field, s).map(Some),
        other => Err(super::TopError {
            field,
            got: crate::util::clip(&other.to_string(), 40).into_owned(),
            max: super::MAX_TOP,
        }),
    }
}
