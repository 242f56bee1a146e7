//! What slices add to training's evaluation: the default gbdt fitted on the 80/20 stratified
//! split (seed 42), then the time to evaluate its validation predictions with and without the
//! slices of `[slices]` (grouping the validation rows once, as `train::prepare_sliced` does,
//! and measuring every slice, as each fit's evaluation does), against the fit. One line of
//! JSON, for `bench/slices.sh`.
//!
//!     cargo bench --bench slices                 # data/train_data.csv, generated if missing
//!     cargo bench --bench slices -- FILE

use std::sync::atomic::AtomicBool;
use std::time::Instant;

use staytrack::data::split::stratified_split;
use staytrack::data::{load_csv, DatasetSpec, Labels};
use staytrack::features::FeaturePipeline;
use staytrack::models::{self, Family, FitContext, Params};
use staytrack::slices::{SliceSettings, Sliced};

/// Times `f` `n` times and returns the median in seconds.
fn median(n: usize, mut f: impl FnMut()) -> f64 {
    let mut t: Vec<f64> = (0..n)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64()
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[n / 2]
}

fn main() -> anyhow::Result<()> {
    let path = match std::env::args().nth(1).filter(|a| !a.starts_with('-')) {
        Some(p) => std::path::PathBuf::from(p),
        None => {
            staytrack::data::ensure_default_data(std::path::Path::new("data"))?;
            "data/train_data.csv".into()
        }
    };
    let spec = DatasetSpec::hospital();
    // Three columns as a workspace would name them: two categorical, one numeric in bins.
    let settings: SliceSettings = toml::from_str(
        "columns = [\"Age\", \"Hospital_region_code\", \"Admission_Deposit\"]\n\
         bins.Admission_Deposit = [3000, 5000, 7000]\n",
    )?;
    settings.check(&spec)?;
    let frame = load_csv(&path, &spec, Labels::Required)?;
    let y = frame.target.clone().expect("labelled");
    let split = stratified_split(&y, 0.2, 42);
    let train = frame.take(&split.train);
    let valid = frame.take(&split.valid);
    let pipeline = FeaturePipeline::fit(&train)?;
    let (xt, xv) = (pipeline.encode(&train)?, pipeline.encode(&valid)?);
    let (yt, yv) = (train.target.clone().unwrap(), valid.target.clone().unwrap());
    let cancel = AtomicBool::new(false);
    let progress = |_p: models::FitProgress| {};
    let ctx = FitContext {
        seed: 42,
        cancel: &cancel,
        progress: &progress,
    };
    let params = Params::resolve(Family::Gbdt, &[])?;
    let t = Instant::now();
    let fitted = models::fit(&params, &xt, &yt, &ctx)?;
    let fit_s = t.elapsed().as_secs_f64();
    let p = fitted.model.predict_encoded(&xv);
    let evaluate_s = median(21, || {
        staytrack::metrics::evaluate(&yv, &p).unwrap();
    });
    let group_s = median(21, || {
        Sliced::of_frame(&settings, &frame, &split.valid);
    });
    let sliced = Sliced::of_frame(&settings, &frame, &split.valid);
    let measure_s = median(21, || {
        sliced.measure(&yv, &p, 0.5).unwrap().unwrap();
    });
    let slices = group_s + measure_s;
    println!(
        "{{\"rows\": {}, \"valid_rows\": {}, \"fit_s\": {fit_s:.3}, \"evaluate_s\": {evaluate_s:.5}, \
         \"group_s\": {group_s:.5}, \"measure_s\": {measure_s:.5}, \"slices_s\": {slices:.5}, \
         \"slices_share_of_fit\": {:.5}}}",
        y.len(),
        yv.len(),
        slices / fit_s
    );
    Ok(())
}
