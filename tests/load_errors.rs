//! Malformed and unusual CSV files: each one loads correctly or fails with an error that names
//! the file and the column, row or value at fault. None may panic.

use std::path::{Path, PathBuf};

use staytrack::data::{load_csv, DatasetSpec, Labels, LoadError};

const HEADER: &str = "case_id,Hospital_code,Hospital_type_code,City_Code_Hospital,Hospital_region_code,Available Extra Rooms in Hospital,Department,Ward_Type,Ward_Facility_Code,Bed Grade,patientid,City_Code_Patient,Type of Admission,Severity of Illness,Visitors with Patient,Age,Admission_Deposit,Stay";
const ROWS: [&str; 3] = [
    "1,8,c,3,Z,3,radiotherapy,R,F,2.0,31397,7.0,Emergency,Extreme,2,51-60,4911.0,0-10",
    "2,2,c,5,Z,2,radiotherapy,S,F,,31397,7.0,Trauma,Extreme,2,51-60,5954.0,41-50",
    "3,10,e,1,X,2,anesthesia,S,E,2.0,31397,,Trauma,Extreme,2,51-60,4745.0,31-40",
];

fn write(dir: &Path, name: &str, content: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, content).unwrap();
    p
}

fn valid() -> String {
    format!("{HEADER}\n{}\n", ROWS.join("\n"))
}

fn load(content: &[u8]) -> (PathBuf, Result<staytrack::data::Frame, LoadError>) {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "case.csv", content);
    let r = load_csv(&p, &DatasetSpec::hospital(), Labels::Required);
    std::mem::forget(dir);
    (p, r)
}

fn err(content: &[u8]) -> String {
    let (p, r) = load(content);
    let e = r.expect_err("expected an error").to_string();
    assert!(
        e.contains(&p.display().to_string()),
        "error does not name the file: {e}"
    );
    e
}

#[test]
fn a_valid_file_loads_with_types_and_target() {
    let (_, r) = load(valid().as_bytes());
    let f = r.unwrap();
    assert_eq!(f.n_rows(), 3);
    assert_eq!(f.target.as_deref(), Some(&[0u8, 1, 1][..]));
    assert_eq!(f.column("Bed Grade").unwrap().missing(), 1);
    assert_eq!(f.column("City_Code_Patient").unwrap().missing(), 1);
}

#[test]
fn missing_column_is_named() {
    let content = valid()
        .replace("Ward_Type,", "")
        .replace(",R,F,", ",F,")
        .replace(",S,F,", ",F,")
        .replace(",S,E,", ",E,");
    let e = err(content.as_bytes());
    assert!(e.contains("missing column(s): 'Ward_Type'"), "{e}");
}

#[test]
fn extra_column_is_named() {
    let content = valid()
        .lines()
        .enumerate()
        .map(|(i, l)| {
            if i == 0 {
                format!("{l},Notes")
            } else {
                format!("{l},x")
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let e = err(content.as_bytes());
    assert!(e.contains("unexpected column(s): 'Notes'"), "{e}");
}

#[test]
fn misspelled_header_gets_a_hint() {
    let content = valid().replace("Hospital_code,", "Hospital_Code,");
    let e = err(content.as_bytes());
    assert!(e.contains("missing column(s): 'Hospital_code'"), "{e}");
    assert!(
        e.contains("'Hospital_Code' looks like a misspelling of 'Hospital_code'"),
        "{e}"
    );
}

#[test]
fn text_in_a_numeric_column_names_row_and_column() {
    let content = valid().replace("2,51-60,5954.0", "two,51-60,5954.0");
    let e = err(content.as_bytes());
    assert!(
        e.contains(
            "row 2 (line 3), column 'Visitors with Patient': expected an integer, found 'two'"
        ),
        "{e}"
    );
    let content = valid().replace("4745.0", "4,745");
    let e = err(format!(
        "{HEADER}\n{}\n",
        content
            .lines()
            .nth(3)
            .unwrap()
            .replace("4,745", "\"4,745\"")
    )
    .as_bytes());
    assert!(
        e.contains("column 'Admission_Deposit': expected a number, found '4,745'"),
        "{e}"
    );
}

#[test]
fn unknown_stay_label_is_named() {
    let content = valid().replace("41-50", "41-55");
    let e = err(content.as_bytes());
    assert!(
        e.contains("row 2 (line 3), column 'Stay': unknown label '41-55'"),
        "{e}"
    );
    assert!(e.contains("More than 100 Days"), "{e}");
}

#[test]
fn empty_file_is_an_error() {
    let e = err(b"");
    assert!(e.ends_with("the file is empty"), "{e}");
    let e = err(b"\n\n  \n");
    assert!(e.ends_with("the file is empty"), "{e}");
}

#[test]
fn header_only_is_an_error() {
    let e = err(format!("{HEADER}\n").as_bytes());
    assert!(e.ends_with("the file has a header but no data rows"), "{e}");
    let e = err(format!("{HEADER}\n\n\n").as_bytes());
    assert!(e.ends_with("the file has a header but no data rows"), "{e}");
}

#[test]
fn byte_order_mark_is_accepted() {
    let mut bytes = vec![0xEF, 0xBB, 0xBF];
    bytes.extend_from_slice(valid().as_bytes());
    let (_, r) = load(&bytes);
    let f = r.unwrap();
    assert_eq!(f.n_rows(), 3);
    assert!(f.column("case_id").is_some());
}

#[test]
fn crlf_line_endings_are_accepted() {
    let content = valid().replace('\n', "\r\n");
    let (_, r) = load(content.as_bytes());
    let f = r.unwrap();
    assert_eq!(f.n_rows(), 3);
    // The last column must not carry the '\r'.
    assert_eq!(f.target.as_deref(), Some(&[0u8, 1, 1][..]));
}

#[test]
fn quoted_commas_stay_inside_their_field() {
    let content = valid().replace("radiotherapy,S", "\"radio, therapy\",S");
    let (_, r) = load(content.as_bytes());
    let f = r.unwrap();
    match f.column("Department").unwrap() {
        staytrack::data::ColumnData::Categorical(c) => {
            assert_eq!(c.get(1), Some("radio, therapy"));
            assert_eq!(c.get(0), Some("radiotherapy"));
        }
        other => panic!("unexpected column {other:?}"),
    }
}

#[test]
fn trailing_blank_lines_are_ignored() {
    let content = format!("{}\n\n\n", valid());
    let (_, r) = load(content.as_bytes());
    assert_eq!(r.unwrap().n_rows(), 3);
}

#[test]
fn wrong_delimiter_gets_a_hint() {
    let content = valid().replace(',', ";");
    let e = err(content.as_bytes());
    assert!(e.contains("looks separated by semicolons"), "{e}");
    let content = valid().replace(',', "\t");
    let e = err(content.as_bytes());
    assert!(e.contains("looks separated by tabs"), "{e}");
}

#[test]
fn missing_required_value_is_named() {
    let content = valid().replace(",Emergency,", ",,");
    let e = err(content.as_bytes());
    assert!(
        e.contains("row 1 (line 2), column 'Type of Admission': the value is missing"),
        "{e}"
    );
    let content = valid().replace(",0-10", ",");
    let e = err(content.as_bytes());
    assert!(
        e.contains("row 1 (line 2), column 'Stay': the value is missing"),
        "{e}"
    );
}

#[test]
fn ragged_rows_are_errors_naming_row_and_line() {
    let content = format!("{}\n4,8,c\n", valid().trim_end());
    let e = err(content.as_bytes());
    assert!(
        e.contains("row 4 (line 5) has 3 field(s) but the header has 18"),
        "{e}"
    );
    let long = format!("{HEADER}\n{},x\n{}\n", ROWS[0], ROWS[1]);
    let e = err(long.as_bytes());
    assert!(e.contains("row 1 (line 2) has 19 field(s)"), "{e}");
}

#[test]
fn blank_line_inside_the_data_is_skipped() {
    let content = format!("{HEADER}\n{}\n\n{}\n", ROWS[0], ROWS[1]);
    let (_, r) = load(content.as_bytes());
    assert_eq!(r.unwrap().n_rows(), 2);
}

#[test]
fn duplicate_column_is_named() {
    let content = valid()
        .lines()
        .enumerate()
        .map(|(i, l)| {
            if i == 0 {
                format!("{l},Age")
            } else {
                format!("{l},51-60")
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let e = err(content.as_bytes());
    assert!(e.contains("column 'Age' appears more than once"), "{e}");
}

#[test]
fn test_file_loads_without_stay_but_training_needs_it() {
    let content: String = valid()
        .lines()
        .map(|l| l.rsplit_once(',').unwrap().0.to_string() + "\n")
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "test_data.csv", content.as_bytes());
    let f = load_csv(&p, &DatasetSpec::hospital(), Labels::Optional).unwrap();
    assert_eq!(f.n_rows(), 3);
    assert!(f.target.is_none());
    let e = load_csv(&p, &DatasetSpec::hospital(), Labels::Required)
        .unwrap_err()
        .to_string();
    assert!(e.contains("missing column(s): 'Stay'"), "{e}");
    assert!(e.contains("needs the target column 'Stay'"), "{e}");
}

#[test]
fn unreadable_path_is_named() {
    let p = Path::new("/nonexistent/dir/train_data.csv");
    let e = load_csv(p, &DatasetSpec::hospital(), Labels::Required)
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("/nonexistent/dir/train_data.csv: cannot read the file"),
        "{e}"
    );
}

#[test]
fn not_utf8_is_an_error_not_a_panic() {
    let mut bytes = valid().into_bytes();
    let pos = bytes.windows(6).position(|w| w == b"Trauma").unwrap();
    bytes[pos] = 0xFF;
    let (_, r) = load(&bytes);
    assert!(r.is_err());
}

#[test]
fn the_first_bad_row_is_the_error_whatever_is_wrong_with_it() {
    // A bad value in row 1 comes before a ragged row 3, and the other way round.
    let bad_value = ROWS[0].replace(",4911.0,", ",lots,");
    let content = format!("{HEADER}\n{bad_value}\n{}\n4,8,c\n", ROWS[1]);
    let e = err(content.as_bytes());
    assert!(
        e.contains("row 1 (line 2), column 'Admission_Deposit'"),
        "{e}"
    );
    let content = format!("{HEADER}\n4,8,c\n{}\n{bad_value}\n", ROWS[1]);
    let e = err(content.as_bytes());
    assert!(e.contains("row 1 (line 2) has 3 field(s)"), "{e}");
    // Within a row, the first column of the spec that is wrong is named.
    let two_bad = ROWS[0]
        .replace(",4911.0,", ",lots,")
        .replace(",Emergency,", ",,");
    let e = err(format!("{HEADER}\n{two_bad}\n").as_bytes());
    assert!(e.contains("column 'Type of Admission'"), "{e}");
}

#[test]
fn a_line_of_commas_alone_is_blank_whatever_its_count() {
    let content = format!("{HEADER}\n{}\n,,,\n{}\n,\r\n", ROWS[0], ROWS[1]);
    let (_, r) = load(content.as_bytes());
    assert_eq!(r.unwrap().n_rows(), 2);
}
