//! PNG reports with plotters: confusion matrices, ROC and PR curves, metric bars, calibration,
//! feature importance, and drift (statistic against threshold, reference-versus-current
//! histograms, drift across windows), and monitoring (performance, drift and data quality per
//! window), and SHAP values of the production model on a sample of rows (beeswarm and
//! dependence plots).
//!
//! Text is drawn with DejaVu Sans embedded in the binary (the `dejavu` crate), so reports render
//! the same on a machine with no font packages. Every file is drawn to a temporary name in the
//! output folder and renamed into place, so a reader never sees half a PNG.

mod drift;
mod monitor;
mod runs;
mod score;
pub mod shap;
mod slices;
pub(crate) mod style;
mod sweep;

pub use drift::render_drift;
pub use monitor::render_monitor;
pub use runs::{curve, render_runs, run_charts, Classes, RunChart};
pub use score::render_score;
pub use shap::{render_shap, shap_sample, ShapData};
pub use slices::render_slices;
pub use sweep::render_sweep;
