//! The feature pipeline on generated data: serde round trip, and a frame and the same rows sent
//! one JSON record at a time give identical vectors.

mod common;

use std::path::Path;

use serde_json::Value;
use staytrack::data::load::parse_csv;
use staytrack::data::synth::{self, Drift, SynthOptions};
use staytrack::data::{DatasetSpec, Labels, Role};
use staytrack::features::FeaturePipeline;

fn data() -> synth::Generated {
    synth::generate(&SynthOptions {
        train_rows: 5_000,
        test_rows: 400,
        seed: 3,
        drift: Drift::Strong,
    })
}

/// The generated train and test files, loaded.
fn frames(g: &synth::Generated) -> (staytrack::data::Frame, staytrack::data::Frame) {
    let spec = DatasetSpec::hospital();
    let load = |csv: &str, labels| {
        parse_csv(csv.as_bytes().to_vec(), Path::new("t.csv"), &spec, labels).unwrap()
    };
    (
        load(&g.train_csv, Labels::Required),
        load(&g.test_csv, Labels::Optional),
    )
}

#[test]
fn frame_and_records_give_identical_vectors() {
    let g = data();
    let spec = DatasetSpec::hospital();
    let (train, test) = frames(&g);
    let p = FeaturePipeline::fit(&train).unwrap();
    let from_frame = p.transform(&test).unwrap();
    let recs = common::records_from_csv(&g.test_csv, true);
    let from_batch = p.transform_records(&spec, &recs).unwrap();
    assert_eq!(from_frame, from_batch);
    for (i, r) in recs.iter().enumerate() {
        let one = p.transform_records(&spec, std::slice::from_ref(r)).unwrap();
        assert_eq!(one.row(0), from_frame.row(i), "record {i}");
    }
    // Ids may be left out of a record and nullable fields may be absent.
    let mut r = recs[0].clone();
    r.remove("case_id");
    r.remove("patientid");
    r.remove("Bed Grade");
    let one = p.transform_records(&spec, &[r]).unwrap();
    let names = p.feature_names();
    let bed_missing = names
        .iter()
        .position(|n| n == "Bed Grade (missing)")
        .unwrap();
    assert_eq!(one[[0, bed_missing]], 1.0);
}

#[test]
fn serde_round_trip_keeps_the_pipeline_and_its_output() {
    let g = data();
    let spec = DatasetSpec::hospital();
    let (train, _) = frames(&g);
    let p = FeaturePipeline::fit(&train).unwrap();
    let json = serde_json::to_string(&p).unwrap();
    let back: FeaturePipeline = serde_json::from_str(&json).unwrap();
    assert_eq!(p, back);
    assert_eq!(
        p.transform(&train).unwrap(),
        back.transform(&train).unwrap()
    );
    // One-hot slots for every categorical level, plus scaled numerics and missing indicators.
    let cats: usize = spec
        .features()
        .filter(|c| c.role == Role::Categorical)
        .count();
    assert!(p.n_features() > cats * 2);
    assert_eq!(p.feature_names().len(), p.n_features());
    assert_eq!(p.feature_columns().len(), p.n_features());
}

#[test]
fn fitting_uses_training_rows_only() {
    let g = data();
    let (train, _) = frames(&g);
    let first = train.take(&(0..2_500).collect::<Vec<_>>());
    let p_all = FeaturePipeline::fit(&train).unwrap();
    let p_half = FeaturePipeline::fit(&first).unwrap();
    assert_ne!(
        p_all, p_half,
        "a pipeline reflects exactly the rows it was fitted on"
    );
    // Transforming other data never changes the pipeline.
    let before = p_half.clone();
    p_half.transform(&train).unwrap();
    assert_eq!(before, p_half);
}

#[test]
fn record_errors_name_the_field() {
    let g = data();
    let spec = DatasetSpec::hospital();
    let (train, _) = frames(&g);
    let p = FeaturePipeline::fit(&train).unwrap();
    let mut r = common::records_from_csv(&g.test_csv, true).remove(0);
    r.insert("Admission_Deposit".into(), Value::String("lots".into()));
    let e = p
        .transform_records(&spec, &[r.clone()])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("field 'Admission_Deposit': expected a number"),
        "{e}"
    );
    r.remove("Admission_Deposit");
    let e = p
        .transform_records(&spec, &[r.clone()])
        .unwrap_err()
        .to_string();
    assert!(e.contains("missing field(s) Admission_Deposit"), "{e}");
    r.insert("Admission_Deposit".into(), Value::from(4000));
    r.insert("Colour".into(), Value::from("red"));
    let e = p.transform_records(&spec, &[r]).unwrap_err().to_string();
    assert!(e.contains("unknown field(s) Colour"), "{e}");
}
