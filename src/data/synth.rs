//! The synthetic twin of the AV Healthcare Analytics II files.
//!
//! The generator builds a fixed world (32 hospitals, a pool of patients), draws admissions from it,
//! scores each admission with a latent length-of-stay risk that mixes main effects with non-linear
//! interactions, and cuts that risk into the 11 `Stay` bins with the published counts. Visitors are
//! drawn after the stay, so they rise with it as in the real data. The recipe and its calibration
//! are described in `data/README.md`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::rng::Rng;
use super::spec::{DatasetSpec, STAY_LABELS};

/// Rows of the real files.
pub const REAL_TRAIN_ROWS: usize = 318_438;
pub const REAL_TEST_ROWS: usize = 137_057;
const REAL_PATIENTS: usize = 131_624;
/// Published `Stay` counts, in `STAY_LABELS` order.
pub const REAL_STAY_COUNTS: [usize; 11] = [
    23_604, 78_139, 87_491, 55_159, 11_743, 35_018, 2_744, 10_254, 4_838, 2_765, 6_683,
];
const REAL_BED_GRADE_MISSING: usize = 113;
const REAL_CITY_PATIENT_MISSING: usize = 4_532;
/// The world (hospitals, patients' traits) is the same for every seed; the seed draws admissions.
const WORLD_SEED: u64 = 0x57A7_77AC;

/// How far the test file is pushed away from the training distribution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Drift {
    #[default]
    None,
    Mild,
    Strong,
}

#[derive(Debug, Clone)]
pub struct SynthOptions {
    pub train_rows: usize,
    pub test_rows: usize,
    pub seed: u64,
    pub drift: Drift,
}

impl Default for SynthOptions {
    fn default() -> Self {
        SynthOptions {
            train_rows: REAL_TRAIN_ROWS,
            test_rows: REAL_TEST_ROWS,
            seed: super::DEFAULT_SEED,
            drift: Drift::None,
        }
    }
}

const TYPES: [&str; 7] = ["a", "b", "c", "d", "e", "f", "g"];
const REGIONS: [&str; 3] = ["X", "Y", "Z"];
const FACILITIES: [&str; 6] = ["A", "B", "C", "D", "E", "F"];
const DEPARTMENTS: [&str; 5] = [
    "gynecology",
    "anesthesia",
    "radiotherapy",
    "TB & Chest disease",
    "surgery",
];
const DEPARTMENT_W: [f64; 5] = [0.7835, 0.0931, 0.0896, 0.0301, 0.0037];
const WARDS: [&str; 6] = ["P", "Q", "R", "S", "T", "U"];
/// Ward mix per department (rows follow `DEPARTMENTS`).
const WARD_W: [[f64; 6]; 5] = [
    [0.0012, 0.350, 0.395, 0.236, 0.0175, 0.0003],
    [0.0040, 0.380, 0.340, 0.250, 0.0260, 0.0000],
    [0.0030, 0.200, 0.520, 0.255, 0.0220, 0.0000],
    [0.0020, 0.300, 0.380, 0.280, 0.0380, 0.0000],
    [0.0100, 0.420, 0.300, 0.240, 0.0300, 0.0000],
];
const WARD_EFFECT: [f64; 6] = [0.35, -0.30, 0.0, 0.35, 0.55, 0.1];
const ADMISSIONS: [&str; 3] = ["Emergency", "Trauma", "Urgent"];
const ADMISSION_W: [f64; 3] = [0.3695, 0.4782, 0.1523];
const SEVERITIES: [&str; 3] = ["Extreme", "Minor", "Moderate"];
const SEVERITY_W: [f64; 3] = [0.1781, 0.2697, 0.5522];
const AGES: [&str; 10] = [
    "0-10", "11-20", "21-30", "31-40", "41-50", "51-60", "61-70", "71-80", "81-90", "91-100",
];
const AGE_W: [f64; 10] = [
    0.0196, 0.0527, 0.1283, 0.1999, 0.2002, 0.1524, 0.1058, 0.1124, 0.0248, 0.0087,
];
const BED_W: [f64; 4] = [0.0833, 0.3885, 0.3474, 0.1808];
/// Patients' home cities 1..=38, most of them near the hospitals' cities.
const CITY_PATIENT_W: [f64; 38] = [
    0.08300, 0.12100, 0.01200, 0.03800, 0.04500, 0.05200, 0.07800, 0.38800, 0.03700, 0.02100,
    0.00350, 0.00550, 0.00450, 0.00580, 0.01860, 0.00138, 0.00006, 0.00275, 0.00248, 0.00143,
    0.00121, 0.00006, 0.00440, 0.00468, 0.00049, 0.00523, 0.00143, 0.00121, 0.00028, 0.00033,
    0.00049, 0.00088, 0.00039, 0.00044, 0.00006, 0.00016, 0.00138, 0.00105,
];
/// The 32 hospitals: (type, city, facility, share of admissions in per mille, usual extra rooms).
const HOSPITALS: [(usize, u8, usize, f64, i32); 32] = [
    (3, 10, 3, 16.0, 3),
    (2, 5, 1, 18.0, 3),
    (2, 3, 5, 33.0, 3),
    (3, 9, 1, 12.0, 3),
    (0, 1, 3, 31.0, 3),
    (0, 6, 5, 62.0, 4),
    (0, 4, 1, 26.0, 3),
    (2, 8, 3, 16.0, 2),
    (3, 5, 0, 27.0, 4),
    (4, 1, 4, 30.0, 3),
    (1, 2, 5, 54.0, 3),
    (0, 9, 1, 39.0, 3),
    (0, 5, 4, 19.0, 3),
    (0, 1, 5, 36.0, 4),
    (2, 5, 5, 29.0, 3),
    (2, 12, 0, 18.0, 3),
    (4, 1, 4, 16.0, 3),
    (3, 13, 2, 6.0, 3),
    (0, 7, 5, 72.0, 3),
    (1, 6, 2, 18.0, 3),
    (2, 3, 0, 38.0, 3),
    (6, 9, 2, 33.0, 3),
    (0, 6, 5, 81.0, 4),
    (0, 1, 4, 38.0, 3),
    (4, 1, 4, 26.0, 3),
    (1, 2, 3, 101.0, 4),
    (0, 7, 0, 56.0, 3),
    (1, 11, 5, 52.0, 3),
    (0, 4, 5, 44.0, 3),
    (5, 3, 2, 20.0, 3),
    (5, 7, 2, 12.0, 3),
    (1, 2, 1, 35.0, 3),
];
/// City of a hospital ⇒ region.
fn region_of_city(city: u8) -> usize {
    match city {
        2 | 7 | 9 | 11 | 13 => 0,
        1 | 4 | 6 | 10 => 1,
        _ => 2,
    }
}

struct Hospital {
    code: u32,
    kind: usize,
    city: u8,
    region: usize,
    facility: usize,
    weight: f64,
    rooms: i32,
    effect: f64,
    /// Hospital-specific ward effects: the non-linear part a linear model cannot see.
    ward: [f64; 6],
    /// Hospital habit of sending visitors (adds noise that is hospital-consistent).
    visitors: f64,
}

struct Patient {
    age: usize,
    city: u8,
    frailty: f64,
}

struct World {
    hospitals: Vec<Hospital>,
    patients: Vec<Patient>,
}

impl World {
    fn new(n_patients: usize) -> World {
        let mut r = Rng::derive(WORLD_SEED, 1);
        let hospitals = HOSPITALS
            .iter()
            .enumerate()
            .map(|(i, &(kind, city, facility, weight, rooms))| {
                let mut ward = [0.0; 6];
                for w in ward.iter_mut() {
                    *w = 1.2 * r.normal();
                }
                Hospital {
                    code: i as u32 + 1,
                    kind,
                    city,
                    region: region_of_city(city),
                    facility,
                    weight,
                    rooms,
                    effect: 0.45 * r.normal(),
                    ward,
                    visitors: 0.3 * r.normal(),
                }
            })
            .collect();
        let mut r = Rng::derive(WORLD_SEED, 2);
        let patients = (0..n_patients)
            .map(|_| Patient {
                age: r.weighted(&AGE_W),
                city: r.weighted(&CITY_PATIENT_W) as u8 + 1,
                frailty: 0.45 * r.normal(),
            })
            .collect();
        World {
            hospitals,
            patients,
        }
    }
}

/// One admission, before it is written.
struct Case {
    hospital: usize,
    rooms: i32,
    department: usize,
    ward: usize,
    bed: Option<u8>,
    patient: usize,
    city_patient: Option<u8>,
    admission: usize,
    severity: usize,
    age: usize,
    deposit: f64,
    risk: f64,
    visitors: i32,
    stay: usize,
}

/// Counts per bin for `n` rows, proportional to the real counts (largest remainder), so the
/// class balance is exact at every size.
pub fn scaled_counts(real: &[usize], n: usize) -> Vec<usize> {
    let total: usize = real.iter().sum();
    let exact: Vec<f64> = real
        .iter()
        .map(|&c| c as f64 * n as f64 / total as f64)
        .collect();
    let mut out: Vec<usize> = exact.iter().map(|x| x.floor() as usize).collect();
    let mut order: Vec<usize> = (0..real.len()).collect();
    order.sort_by(|&a, &b| {
        let fa = exact[a] - exact[a].floor();
        let fb = exact[b] - exact[b].floor();
        fb.total_cmp(&fa).then(a.cmp(&b))
    });
    let short = n - out.iter().sum::<usize>();
    for &i in order.iter().take(short) {
        out[i] += 1;
    }
    out
}

/// Missing cells for `n` rows at the published rate.
pub fn scaled_missing(real_missing: usize, n: usize) -> usize {
    ((real_missing as f64) * n as f64 / REAL_TRAIN_ROWS as f64).round() as usize
}

/// One generative story per row, read top to bottom like the data dictionary.
fn draw_cases(world: &World, n: usize, rng: &mut Rng, drift: Drift) -> Vec<Case> {
    let strong = drift == Drift::Strong;
    let hosp_w: Vec<f64> = world
        .hospitals
        .iter()
        .map(|h| {
            if strong {
                // A new referral pattern: small hospitals take over.
                1.0 / h.weight
            } else {
                h.weight
            }
        })
        .collect();
    let severity_w = match drift {
        Drift::None => SEVERITY_W,
        Drift::Mild => [0.23, 0.25, 0.52],
        Drift::Strong => [0.45, 0.15, 0.40],
    };
    let admission_w = if strong {
        [0.62, 0.23, 0.15]
    } else {
        ADMISSION_W
    };
    let deposit_shift = match drift {
        Drift::None => 0.0,
        Drift::Mild => 280.0,
        Drift::Strong => 1100.0,
    };
    let n_patients = world.patients.len();
    let mut cases = Vec::with_capacity(n);
    for _ in 0..n {
        let hospital = rng.weighted(&hosp_w);
        let h = &world.hospitals[hospital];
        let patient = rng.below(n_patients as u64) as usize;
        let p = &world.patients[patient];
        let mut age = p.age;
        if strong && age < 9 && rng.f64() < 0.45 {
            age += 1 + (rng.f64() < 0.4) as usize;
            age = age.min(9);
        }
        let department = rng.weighted(&DEPARTMENT_W);
        let ward = rng.weighted(&WARD_W[department]);
        // Older patients arrive sicker.
        let mut sev_w = severity_w;
        sev_w[0] *= 0.7 + 0.08 * age as f64;
        let severity = rng.weighted(&sev_w);
        let admission = rng.weighted(&admission_w);
        let bed = rng.weighted(&BED_W) as u8 + 1;
        let mut rooms = h.rooms + rng.weighted(&[0.05, 0.25, 0.48, 0.17, 0.04, 0.01]) as i32 - 2;
        if rng.f64() < 0.0015 {
            rooms += 3 + rng.below(19) as i32;
        }
        if strong {
            rooms += 2;
        }
        let rooms = rooms.clamp(0, 24);
        let mut deposit = 4856.0 + deposit_shift + 1040.0 * rng.normal()
            - 60.0 * (age as f64 - 4.0)
            + if severity == 0 { 150.0 } else { 0.0 };
        if rng.f64() < 0.002 {
            deposit += 2000.0 + 4200.0 * rng.f64();
        }
        let deposit = deposit.round().clamp(1800.0, 11008.0);

        // The latent risk of a long stay.
        let z_dep = (deposit - 4881.0) / 1087.0;
        let mut risk = h.effect
            + WARD_EFFECT[ward]
            + h.ward[ward]
            + [0.45, -0.45, 0.0][severity]
            + 0.07 * (age as f64 - 4.0)
            + [0.0, 0.15, -0.15][admission]
            + [0.0, 0.3, -0.25, 0.45, 0.5][department]
            + 0.15 * (bed as f64 - 2.6)
            - 0.2 * z_dep
            + 0.45 * (z_dep * z_dep - 1.0)
            + p.frailty;
        if rooms <= 1 {
            risk += 0.6;
        } else if rooms >= 5 {
            risk -= 0.35;
        }
        if severity == 0 && age >= 6 {
            risk += 1.2;
        }
        if severity == 0 && age <= 2 {
            risk -= 0.9;
        }
        if admission == 1 && (department == 3 || department == 4) {
            risk += 1.0;
        }
        if admission == 2 && ward == 3 {
            risk -= 0.8;
        }
        if bed == 4 && rooms <= 2 {
            risk += 0.5;
        }
        if department == 0 && severity == 1 && ward == 1 {
            risk -= 0.5;
        }
        risk += 0.9 * rng.logistic();
        cases.push(Case {
            hospital,
            rooms,
            department,
            ward,
            bed: Some(bed),
            patient,
            city_patient: Some(p.city),
            admission,
            severity,
            age,
            deposit,
            risk,
            visitors: 0,
            stay: 0,
        });
    }
    cases
}

/// Cuts risk into stay bins: by rank for the training file (so counts are exact), then with the
/// training file's thresholds for the test file (so a drifted population stays longer).
fn assign_stays(cases: &mut [Case], thresholds: &[f64]) {
    for c in cases.iter_mut() {
        c.stay = thresholds.iter().take_while(|&&t| c.risk >= t).count();
    }
}

fn thresholds_by_rank(cases: &mut [Case], counts: &[usize]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..cases.len()).collect();
    order.sort_by(|&a, &b| cases[a].risk.total_cmp(&cases[b].risk).then(a.cmp(&b)));
    let mut thresholds = Vec::with_capacity(counts.len() - 1);
    let mut pos = 0;
    for (bin, &count) in counts.iter().enumerate() {
        for &i in &order[pos..pos + count] {
            cases[i].stay = bin;
        }
        pos += count;
        if bin + 1 < counts.len() {
            let t = if pos < order.len() {
                cases[order[pos]].risk
            } else {
                f64::INFINITY
            };
            thresholds.push(t);
        }
    }
    thresholds
}

fn draw_visitors(world: &World, cases: &mut [Case], rng: &mut Rng, drift: Drift) {
    let extra = if drift == Drift::Strong { 1.5 } else { 0.0 };
    for c in cases.iter_mut() {
        let h = &world.hospitals[c.hospital];
        let mean = 2.58 + 0.26 * c.stay as f64 + h.visitors + extra;
        let mut v = (mean + 1.4 * rng.normal()).round() as i32;
        if rng.f64() < 0.002 {
            v += 4 + rng.below(24) as i32;
        }
        c.visitors = v.clamp(0, 32);
    }
}

fn punch_holes(cases: &mut [Case], rng: &mut Rng) {
    let n = cases.len();
    for i in rng.sample_indices(n, scaled_missing(REAL_BED_GRADE_MISSING, n)) {
        cases[i].bed = None;
    }
    for i in rng.sample_indices(n, scaled_missing(REAL_CITY_PATIENT_MISSING, n)) {
        cases[i].city_patient = None;
    }
}

fn write_rows(out: &mut String, world: &World, cases: &[Case], first_id: usize, labelled: bool) {
    let spec = DatasetSpec::hospital();
    out.push_str(&spec.header(labelled).join(","));
    out.push('\n');
    for (i, c) in cases.iter().enumerate() {
        let h = &world.hospitals[c.hospital];
        let _ = write!(
            out,
            "{},{},{},{},{},{},{},{},{},",
            first_id + i,
            h.code,
            TYPES[h.kind],
            h.city,
            REGIONS[h.region],
            c.rooms,
            DEPARTMENTS[c.department],
            WARDS[c.ward],
            FACILITIES[h.facility],
        );
        if let Some(b) = c.bed {
            let _ = write!(out, "{b}.0");
        }
        let _ = write!(out, ",{},", c.patient + 1);
        if let Some(city) = c.city_patient {
            let _ = write!(out, "{city}.0");
        }
        let _ = write!(
            out,
            ",{},{},{},{},{:.1}",
            ADMISSIONS[c.admission], SEVERITIES[c.severity], c.visitors, AGES[c.age], c.deposit,
        );
        if labelled {
            out.push(',');
            out.push_str(STAY_LABELS[c.stay]);
        }
        out.push('\n');
    }
}

/// The two files' contents.
pub struct Generated {
    pub train_csv: String,
    pub test_csv: String,
}

pub fn generate(opts: &SynthOptions) -> Generated {
    let n_patients = ((REAL_PATIENTS as f64) * opts.train_rows as f64 / REAL_TRAIN_ROWS as f64)
        .round()
        .max(1.0) as usize;
    let world = World::new(n_patients);

    let mut rng = Rng::derive(opts.seed, 10);
    let mut train = draw_cases(&world, opts.train_rows, &mut rng, Drift::None);
    let counts = scaled_counts(&REAL_STAY_COUNTS, opts.train_rows);
    let thresholds = thresholds_by_rank(&mut train, &counts);
    draw_visitors(
        &world,
        &mut train,
        &mut Rng::derive(opts.seed, 11),
        Drift::None,
    );
    punch_holes(&mut train, &mut Rng::derive(opts.seed, 12));

    let mut rng = Rng::derive(opts.seed, 20);
    let mut test = draw_cases(&world, opts.test_rows, &mut rng, opts.drift);
    assign_stays(&mut test, &thresholds);
    draw_visitors(
        &world,
        &mut test,
        &mut Rng::derive(opts.seed, 21),
        opts.drift,
    );
    punch_holes(&mut test, &mut Rng::derive(opts.seed, 22));

    let mut train_csv = String::with_capacity(opts.train_rows * 110);
    write_rows(&mut train_csv, &world, &train, 1, true);
    let mut test_csv = String::with_capacity(opts.test_rows * 110);
    write_rows(&mut test_csv, &world, &test, opts.train_rows + 1, false);
    Generated {
        train_csv,
        test_csv,
    }
}

/// Where the two files went.
#[derive(Debug, Clone)]
pub struct Written {
    pub train: PathBuf,
    pub test: PathBuf,
}

/// Generates and writes `train_data.csv` and `test_data.csv` into `dir`, each atomically.
pub fn write_files(opts: &SynthOptions, dir: &Path) -> anyhow::Result<Written> {
    use anyhow::Context;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let g = generate(opts);
    let train = dir.join("train_data.csv");
    let test = dir.join("test_data.csv");
    crate::util::atomic_write(&train, g.train_csv.as_bytes())?;
    crate::util::atomic_write(&test, g.test_csv.as_bytes())?;
    Ok(Written { train, test })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaled_counts_sum_and_keep_proportions() {
        for n in [1, 7, 1000, 12_345, REAL_TRAIN_ROWS] {
            let c = scaled_counts(&REAL_STAY_COUNTS, n);
            assert_eq!(c.iter().sum::<usize>(), n);
        }
        assert_eq!(
            scaled_counts(&REAL_STAY_COUNTS, REAL_TRAIN_ROWS),
            REAL_STAY_COUNTS.to_vec()
        );
        assert_eq!(scaled_missing(REAL_BED_GRADE_MISSING, REAL_TRAIN_ROWS), 113);
    }

    #[test]
    fn hospitals_have_one_type_city_and_region() {
        let w = World::new(10);
        assert_eq!(w.hospitals.len(), 32);
        for t in 0..TYPES.len() {
            assert!(w.hospitals.iter().any(|h| h.kind == t), "type {t} unused");
        }
        for f in 0..FACILITIES.len() {
            assert!(w.hospitals.iter().any(|h| h.facility == f));
        }
        let cities: std::collections::BTreeSet<u8> = w.hospitals.iter().map(|h| h.city).collect();
        assert_eq!(cities.len(), 13);
    }
}
