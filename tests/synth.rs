//! The synthetic twin: deterministic, loadable, and calibrated against the published facts
//! (../shared/data/FACTS.md, summarised in data/README.md).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use staytrack::data::frame::ColumnData;
use staytrack::data::load::parse_csv;
use staytrack::data::synth::{self, Drift, SynthOptions, REAL_STAY_COUNTS, REAL_TRAIN_ROWS};
use staytrack::data::{DatasetSpec, Frame, Labels};

const N: usize = 40_000;
const M: usize = 15_000;

fn opts(seed: u64, drift: Drift) -> SynthOptions {
    SynthOptions {
        train_rows: N,
        test_rows: M,
        seed,
        drift,
    }
}

fn frames(o: &SynthOptions) -> (Frame, Frame) {
    let g = synth::generate(o);
    let spec = DatasetSpec::hospital();
    let train = parse_csv(
        g.train_csv.into_bytes(),
        Path::new("train_data.csv"),
        &spec,
        Labels::Required,
    )
    .unwrap();
    let test = parse_csv(
        g.test_csv.into_bytes(),
        Path::new("test_data.csv"),
        &spec,
        Labels::Optional,
    )
    .unwrap();
    (train, test)
}

fn num<'a>(f: &'a Frame, c: &str) -> &'a [f64] {
    match f.column(c).unwrap() {
        ColumnData::Numeric(v) => v,
        other => panic!("{c} is {other:?}"),
    }
}

/// The synthetic twin's ids are whole numbers, written as such.
fn ids(f: &Frame, c: &str) -> Vec<i64> {
    match f.column(c).unwrap() {
        ColumnData::Id(v) => v.iter().map(|s| s.parse().unwrap()).collect(),
        other => panic!("{c} is {other:?}"),
    }
}

fn labels(f: &Frame, c: &str) -> Vec<Option<String>> {
    match f.column(c).unwrap() {
        ColumnData::Categorical(cat) => (0..cat.codes.len())
            .map(|i| cat.get(i).map(str::to_string))
            .collect(),
        other => panic!("{c} is {other:?}"),
    }
}

fn mean(v: &[f64]) -> f64 {
    let p: Vec<f64> = v.iter().copied().filter(|x| !x.is_nan()).collect();
    p.iter().sum::<f64>() / p.len() as f64
}

#[test]
fn same_seed_gives_byte_identical_files_and_another_seed_does_not() {
    let a = synth::generate(&opts(7, Drift::None));
    let b = synth::generate(&opts(7, Drift::None));
    assert!(a.train_csv == b.train_csv && a.test_csv == b.test_csv);
    let c = synth::generate(&opts(8, Drift::None));
    assert!(a.train_csv != c.train_csv);
    let dir = tempfile::tempdir().unwrap();
    let w1 = synth::write_files(&opts(7, Drift::None), &dir.path().join("one")).unwrap();
    let w2 = synth::write_files(&opts(7, Drift::None), &dir.path().join("two")).unwrap();
    assert_eq!(
        std::fs::read(w1.train).unwrap(),
        std::fs::read(w2.train).unwrap()
    );
    assert_eq!(
        std::fs::read(w1.test).unwrap(),
        std::fs::read(w2.test).unwrap()
    );
}

#[test]
fn headers_are_the_real_ones_in_the_real_order() {
    let g = synth::generate(&SynthOptions {
        train_rows: 50,
        test_rows: 10,
        ..Default::default()
    });
    let spec = DatasetSpec::hospital();
    assert_eq!(
        g.train_csv.lines().next().unwrap(),
        spec.header(true).join(",")
    );
    assert_eq!(
        g.test_csv.lines().next().unwrap(),
        spec.header(false).join(",")
    );
    assert_eq!(g.train_csv.lines().count(), 51);
    assert_eq!(g.test_csv.lines().count(), 11);
}

#[test]
fn class_balance_and_stay_bins_match_the_published_counts() {
    let (train, _) = frames(&opts(42, Drift::None));
    let target = train.target.as_ref().unwrap();
    let share = target.iter().map(|&t| t as f64).sum::<f64>() / N as f64;
    let real_share = 129_204.0 / 318_438.0;
    assert!((share - real_share).abs() < 0.005, "positive share {share}");
    let mut counts = [0usize; 11];
    for &l in train.labels.as_ref().unwrap() {
        counts[l as usize] += 1;
    }
    for (got, real) in counts.iter().zip(REAL_STAY_COUNTS) {
        let want = real as f64 / REAL_TRAIN_ROWS as f64;
        assert!((*got as f64 / N as f64 - want).abs() < 0.001, "{counts:?}");
    }
}

#[test]
fn missing_values_sit_only_in_the_known_gaps_at_the_published_rates() {
    let (train, test) = frames(&opts(42, Drift::None));
    for f in [&train, &test] {
        let n = f.n_rows();
        for (name, col) in f.columns() {
            let missing = col.missing();
            match name {
                "Bed Grade" => assert_eq!(missing, synth::scaled_missing(113, n)),
                "City_Code_Patient" => assert_eq!(missing, synth::scaled_missing(4_532, n)),
                _ => assert_eq!(missing, 0, "{name}"),
            }
        }
    }
    // At full size these are exactly the published counts.
    assert_eq!(synth::scaled_missing(113, REAL_TRAIN_ROWS), 113);
    assert_eq!(synth::scaled_missing(4_532, REAL_TRAIN_ROWS), 4_532);
}

#[test]
fn values_stay_in_the_published_ranges_and_near_the_published_moments() {
    let (train, test) = frames(&opts(42, Drift::None));
    let range = |f: &Frame, c: &str, lo: f64, hi: f64| {
        for &x in num(f, c).iter().filter(|x| !x.is_nan()) {
            assert!((lo..=hi).contains(&x), "{c}: {x} outside {lo}..{hi}");
        }
    };
    for f in [&train, &test] {
        range(f, "Available Extra Rooms in Hospital", 0.0, 24.0);
        range(f, "Bed Grade", 1.0, 4.0);
        range(f, "Visitors with Patient", 0.0, 32.0);
        range(f, "Admission_Deposit", 1800.0, 11008.0);
        let hosp: Vec<i64> = labels(f, "Hospital_code")
            .iter()
            .map(|l| l.as_ref().unwrap().parse().unwrap())
            .collect();
        assert!(hosp.iter().all(|h| (1..=32).contains(h)));
        let city: BTreeSet<i64> = labels(f, "City_Code_Patient")
            .iter()
            .flatten()
            .map(|l| l.parse().unwrap())
            .collect();
        assert!(city.iter().all(|c| (1..=38).contains(c)));
        let pid = ids(f, "patientid");
        let max_pid = (131_624.0 * N as f64 / REAL_TRAIN_ROWS as f64).round() as i64;
        assert!(pid.iter().all(|p| (1..=max_pid).contains(p)));
    }
    // Patients recur across cases, as in the real data.
    let distinct: BTreeSet<i64> = ids(&train, "patientid").iter().copied().collect();
    assert!(distinct.len() < N * 3 / 4);
    let case = ids(&train, "case_id");
    assert_eq!((case[0], case[N - 1]), (1, N as i64));
    let case = ids(&test, "case_id");
    assert_eq!((case[0], case[M - 1]), (N as i64 + 1, (N + M) as i64));
    let close = |c: &str, want: f64, tol: f64| {
        let m = mean(num(&train, c));
        assert!((m - want).abs() < tol, "{c}: mean {m}, published {want}");
    };
    close("Available Extra Rooms in Hospital", 3.20, 0.15);
    close("Bed Grade", 2.63, 0.05);
    close("Visitors with Patient", 3.28, 0.15);
    close("Admission_Deposit", 4881.0, 60.0);
    let allowed: [(&str, &[&str]); 6] = [
        ("Hospital_type_code", &["a", "b", "c", "d", "e", "f", "g"]),
        ("Hospital_region_code", &["X", "Y", "Z"]),
        ("Ward_Type", &["P", "Q", "R", "S", "T", "U"]),
        ("Ward_Facility_Code", &["A", "B", "C", "D", "E", "F"]),
        ("Type of Admission", &["Emergency", "Trauma", "Urgent"]),
        ("Severity of Illness", &["Extreme", "Minor", "Moderate"]),
    ];
    for (c, set) in allowed {
        let seen: BTreeSet<String> = labels(&train, c).into_iter().flatten().collect();
        assert_eq!(seen, set.iter().map(|s| s.to_string()).collect(), "{c}");
    }
    let dept = labels(&train, "Department");
    let gyn = dept
        .iter()
        .filter(|d| d.as_deref() == Some("gynecology"))
        .count();
    assert!(
        gyn as f64 / N as f64 > 0.7,
        "gynecology is the large majority"
    );
}

#[test]
fn a_hospital_has_one_type_city_and_region() {
    let (train, _) = frames(&opts(42, Drift::None));
    let h = labels(&train, "Hospital_code");
    let cols = [
        "Hospital_type_code",
        "City_Code_Hospital",
        "Hospital_region_code",
        "Ward_Facility_Code",
    ];
    for c in cols {
        let v = labels(&train, c);
        let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
        for (hosp, val) in h.iter().zip(&v) {
            let prev = seen.insert(hosp.as_deref().unwrap(), val.as_deref().unwrap());
            assert!(
                prev.is_none() || prev == val.as_deref(),
                "hospital {hosp:?} has two values of {c}"
            );
        }
        assert_eq!(seen.len(), 32);
    }
}

#[test]
fn visitors_rise_with_the_length_of_stay() {
    let (train, _) = frames(&opts(42, Drift::None));
    let v = num(&train, "Visitors with Patient");
    let l = train.labels.as_ref().unwrap();
    let mean_of = |bins: &[u16]| {
        let xs: Vec<f64> = v
            .iter()
            .zip(l)
            .filter(|(_, b)| bins.contains(b))
            .map(|(x, _)| *x)
            .collect();
        mean(&xs)
    };
    let short = mean_of(&[0, 1]);
    let middle = mean_of(&[3, 4, 5]);
    let long = mean_of(&[8, 9, 10]);
    assert!(
        short + 0.3 < middle && middle + 0.3 < long,
        "{short} {middle} {long}"
    );
}

#[test]
fn the_target_depends_on_interactions_not_only_main_effects() {
    // Extreme severity makes a long stay likelier for old patients than for young ones, by more
    // than Minor severity does: an interaction a linear model cannot express.
    let (train, _) = frames(&opts(42, Drift::None));
    let sev = labels(&train, "Severity of Illness");
    let age = labels(&train, "Age");
    let t = train.target.as_ref().unwrap();
    let rate = |s: &str, old: bool| {
        let rows: Vec<u8> = (0..N)
            .filter(|&i| sev[i].as_deref() == Some(s))
            .filter(|&i| {
                let a = age[i].as_deref().unwrap();
                if old {
                    ["61-70", "71-80", "81-90", "91-100"].contains(&a)
                } else {
                    ["0-10", "11-20", "21-30"].contains(&a)
                }
            })
            .map(|i| t[i])
            .collect();
        rows.iter().map(|&x| x as f64).sum::<f64>() / rows.len() as f64
    };
    let extreme_gap = rate("Extreme", true) - rate("Extreme", false);
    let minor_gap = rate("Minor", true) - rate("Minor", false);
    assert!(
        extreme_gap > minor_gap + 0.15,
        "extreme {extreme_gap}, minor {minor_gap}"
    );
}

#[test]
fn drift_moves_the_test_file_and_none_does_not() {
    let (train, calm) = frames(&opts(42, Drift::None));
    let (_, strong) = frames(&opts(42, Drift::Strong));
    let (_, mild) = frames(&opts(42, Drift::Mild));
    let d = |f: &Frame| mean(num(f, "Admission_Deposit"));
    let base = d(&train);
    assert!((d(&calm) - base).abs() < 30.0);
    assert!(d(&mild) - base > 200.0);
    assert!(d(&strong) - base > 900.0);
    let extreme = |f: &Frame| {
        let s = labels(f, "Severity of Illness");
        s.iter().filter(|x| x.as_deref() == Some("Extreme")).count() as f64 / s.len() as f64
    };
    assert!((extreme(&calm) - extreme(&train)).abs() < 0.01);
    assert!(extreme(&strong) > extreme(&train) + 0.15);
    // The train file is the same whatever the test file's drift.
    let a = synth::generate(&opts(42, Drift::None));
    let b = synth::generate(&opts(42, Drift::Strong));
    assert!(a.train_csv == b.train_csv);
}
