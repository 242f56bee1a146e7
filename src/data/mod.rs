//! The dataset: its spec, loading and validation, the synthetic generator and splits.

pub mod chunks;
pub mod csv;
pub mod frame;
pub mod header;
pub mod infer;
pub mod load;
pub mod parquet;
pub mod profile;
pub mod quality;
pub mod rng;
pub mod spec;
pub mod split;
pub mod summary;
pub mod synth;

use std::path::Path;

pub use frame::{CatColumn, ColumnData, Frame, RecordError};
pub use load::{load_csv, Labels, LoadError};
pub use spec::{DatasetSpec, Role};

/// The seed of the split, the models and the synthetic data unless one is given.
pub const DEFAULT_SEED: u64 = 42;

/// Which default files `ensure_default_data` had to create.
#[derive(Debug, Default)]
pub struct Ensured {
    pub train_created: bool,
    pub test_created: bool,
}

/// Makes sure `dir/train_data.csv` exists, generating the synthetic twin when it does not.
/// Files that are already there (such as the real Kaggle files) are never touched.
pub fn ensure_default_data(dir: &Path) -> anyhow::Result<Ensured> {
    let train = dir.join("train_data.csv");
    let test = dir.join("test_data.csv");
    if train.exists() {
        return Ok(Ensured::default());
    }
    let opts = synth::SynthOptions::default();
    let g = synth::generate(&opts);
    std::fs::create_dir_all(dir)
        .map_err(|e| anyhow::anyhow!("creating the folder {}: {e}", dir.display()))?;
    crate::util::atomic_write(&train, g.train_csv.as_bytes())?;
    let test_created = !test.exists();
    if test_created {
        crate::util::atomic_write(&test, g.test_csv.as_bytes())?;
    }
    Ok(Ensured {
        train_created: true,
        test_created,
    })
}
