//! Benchmark: drift of the full test file (137,057 rows) against the training profile.
//!
//!     cargo bench --bench drift -- [TRAIN_CSV [TEST_CSV]]   # default: data/train_data.csv, data/test_data.csv
//!
//! Prints the time to load the test file, the time to compare it with the reference profile
//! (profile columns + current columns + every test; goal ≤ 100 ms), and how far each statistic
//! computed from the stored profile is from the same statistic computed from the raw training
//! column (the profile's tolerance). `bench/drift.sh` runs it beside Evidently.

use std::path::PathBuf;
use std::time::Instant;

use staytrack::data::profile::Profile;
use staytrack::data::{load_csv, DatasetSpec, Labels};
use staytrack::drift::{self, Options};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let dir = PathBuf::from("data");
    if args.is_empty() {
        staytrack::data::ensure_default_data(&dir)?;
    }
    let train = args
        .first()
        .map_or(dir.join("train_data.csv"), PathBuf::from);
    let test = args.get(1).map_or(dir.join("test_data.csv"), PathBuf::from);
    let spec = DatasetSpec::hospital();
    let train_frame = load_csv(&train, &spec, Labels::Required)?;
    let profile = Profile::of(&train_frame);
    let reference = drift::from_profile(&profile);

    let mut load = Vec::new();
    let mut compare = Vec::new();
    let mut report = None;
    for _ in 0..7 {
        let t = Instant::now();
        let current = load_csv(&test, &spec, Labels::Optional)?;
        load.push(t.elapsed().as_secs_f64() * 1000.0);
        let t = Instant::now();
        let reference = drift::from_profile(&profile);
        let cur = drift::from_frame(&current);
        let r = drift::compare(&reference, &cur, &Options::default())?;
        compare.push(t.elapsed().as_secs_f64() * 1000.0);
        report = Some((r, cur));
    }
    load.sort_by(f64::total_cmp);
    compare.sort_by(f64::total_cmp);
    let (report, current) = report.expect("seven runs");
    println!(
        "{{\"rows\": {}, \"load_ms_best\": {:.1}, \"load_ms_median\": {:.1}, \"compare_ms_best\": {:.1}, \"compare_ms_median\": {:.1}, \"drifted\": {}, \"dataset_drift\": {}}}",
        current.first().map_or(0.0, |c| match &c.values {
            drift::Values::Numeric(v) => v.iter().map(|p| p.1).sum::<f64>() + c.missing,
            drift::Values::Categorical(m) => m.values().sum::<f64>() + c.missing,
        }),
        load[0],
        load[3],
        compare[0],
        compare[3],
        report.drifted,
        report.dataset_drift
    );
    // Profile against the raw training column: the same rows, summarised or not.
    let exact = drift::compare(
        &drift::from_frame(&train_frame),
        &current,
        &Options::default(),
    )?;
    let _ = reference;
    let mut worst: f64 = 0.0;
    for (p, e) in report.columns.iter().zip(&exact.columns) {
        let diff = (p.statistic - e.statistic).abs();
        worst = worst.max(diff);
        println!(
            "{{\"column\": {:?}, \"test\": {:?}, \"from_profile\": {:.6}, \"from_raw\": {:.6}, \"difference\": {:.2e}}}",
            p.column, p.test, p.statistic, e.statistic, diff
        );
    }
    println!("{{\"largest_difference\": {worst:.2e}}}");
    Ok(())
}
