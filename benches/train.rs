//! staytrack's half of the peer benchmark: the four families with their defaults on the
//! training file, 80/20 stratified split with seed 42, printing fit time, predict time and
//! validation ROC AUC (one line of JSON per family, for `bench/peers.sh`).
//!
//!     cargo bench --bench train                 # data/train_data.csv, generated if missing
//!     cargo bench --bench train -- FILE [FAMILY...] [family.key=value...] [--split-out FILE]

use std::sync::atomic::AtomicBool;
use std::time::Instant;

use staytrack::data::split::stratified_split;
use staytrack::data::{load_csv, DatasetSpec, Labels};
use staytrack::features::FeaturePipeline;
use staytrack::models::{self, Family, FitContext, Params};

fn main() -> anyhow::Result<()> {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    // Positional arguments: the file and family names; `--split-out FILE` and `k=v` are options.
    let args: Vec<String> = raw
        .iter()
        .enumerate()
        .filter(|(i, a)| {
            !a.starts_with('-') && !a.contains('=') && (*i == 0 || raw[i - 1] != "--split-out")
        })
        .map(|(_, a)| a.clone())
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
        Family::ENGINES.to_vec()
    } else {
        families
    };
    let frame = load_csv(&path, &DatasetSpec::hospital(), Labels::Required)?;
    let y = frame.target.clone().expect("labelled");
    let split = stratified_split(&y, 0.2, 42);
    // The validation rows, so that peers can score exactly the same split.
    if let Some(i) = std::env::args().position(|a| a == "--split-out") {
        let out = std::env::args().nth(i + 1).expect("--split-out FILE");
        std::fs::write(&out, serde_json::to_string(&split.valid)?)?;
    }
    let train = frame.take(&split.train);
    let valid = frame.take(&split.valid);
    let t = Instant::now();
    let pipeline = FeaturePipeline::fit(&train)?;
    let xt = pipeline.encode(&train)?;
    let xv = pipeline.encode(&valid)?;
    let prep = t.elapsed().as_secs_f64();
    let (yt, yv) = (train.target.clone().unwrap(), valid.target.clone().unwrap());
    eprintln!(
        "{} train rows, {} validation rows, {} features, prepared in {prep:.2} s",
        yt.len(),
        yv.len(),
        xt.n_features()
    );
    let cancel = AtomicBool::new(false);
    for f in families {
        // `family.key=value` arguments override the defaults, for tuning.
        let overrides: Vec<(String, String)> = raw
            .iter()
            .filter_map(|a| a.split_once('='))
            .filter_map(|(k, v)| k.split_once('.').map(|(fam, key)| (fam, key, v)))
            .filter(|(fam, _, _)| *fam == f.name())
            .map(|(_, k, v)| (k.to_string(), v.to_string()))
            .collect();
        let params = Params::resolve(f, &overrides)?;
        let progress = |_p: models::FitProgress| {};
        let ctx = FitContext {
            seed: 42,
            cancel: &cancel,
            progress: &progress,
        };
        let t = Instant::now();
        let fitted = models::fit(&params, &xt, &yt, &ctx)?;
        let fit_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let p = fitted.model.predict_encoded(&xv);
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
