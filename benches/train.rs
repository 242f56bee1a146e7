//! staytrack's half of the peer benchmark: the four families with their defaults on the
//! training file, 80/20 stratified split with seed 42, printing fit time, predict time and
//! validation ROC AUC (one line of JSON per family, for `bench/peers.sh`).
//!
//!     cargo bench --bench train                 # data/train_data.csv, generated if missing
//!     cargo bench --bench train -- FILE [FAMILY...]

use std::sync::atomic::AtomicBool;
use std::time::Instant;

use staytrack::data::split::stratified_split;
use staytrack::data::{load_csv, DatasetSpec, Labels};
use staytrack::features::FeaturePipeline;
use staytrack::models::{self, Family, FitContext, Params};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let path = match args.first().filter(|a| Family::parse(a).is_none()) {
        Some(p) => std::path::PathBuf::from(p),
        None => {
            staytrack::data::ensure_default_data(std::path::Path::new("data"))?;
            "data/train_data.csv".into()
        }
    };
    let families: Vec<Family> = args.iter().filter_map(|a| Family::parse(a)).collect();
    let families = if families.is_empty() {
        Family::ALL.to_vec()
    } else {
        families
    };
    let frame = load_csv(&path, &DatasetSpec::hospital(), Labels::Required)?;
    let y = frame.target.clone().expect("labelled");
    let split = stratified_split(&y, 0.2, 42);
    let train = frame.take(&split.train);
    let valid = frame.take(&split.valid);
    let t = Instant::now();
    let pipeline = FeaturePipeline::fit(&train)?;
    let xt = pipeline.transform(&train)?;
    let xv = pipeline.transform(&valid)?;
    let prep = t.elapsed().as_secs_f64();
    let (yt, yv) = (train.target.clone().unwrap(), valid.target.clone().unwrap());
    eprintln!(
        "{} train rows, {} validation rows, {} features, prepared in {prep:.2} s",
        yt.len(),
        yv.len(),
        xt.ncols()
    );
    let cancel = AtomicBool::new(false);
    for f in families {
        let params = Params::defaults(f);
        let progress = |_p: models::FitProgress| {};
        let ctx = FitContext {
            seed: 42,
            cancel: &cancel,
            progress: &progress,
        };
        let t = Instant::now();
        let fitted = models::fit(&params, xt.view(), &yt, &pipeline.groups(), &ctx)?;
        let fit_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let p = fitted.model.predict_proba(xv.view());
        let predict_s = t.elapsed().as_secs_f64();
        let auc = staytrack::metrics::roc_auc(&yv, &p)?;
        println!(
            "{{\"tool\": \"staytrack\", \"model\": \"{}\", \"fit_s\": {fit_s:.3}, \"predict_s\": {predict_s:.3}, \"roc_auc\": {auc:.5}, \"detail\": \"{}\"}}",
            f.name(),
            fitted.model.describe()
        );
    }
    Ok(())
}
