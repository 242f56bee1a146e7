use super::*;

fn spec_col(name: &str) -> ColumnSpec {
    DatasetSpec::hospital().column(name).unwrap().clone()
}

#[test]
fn plain_decimals_read_as_the_full_reader_reads_them() {
    let mut rng = crate::data::rng::Rng::new(11);
    let mut texts: Vec<String> = [
        "0",
        "-0",
        "-0.0",
        "4142.0",
        "0.1",
        "0.3",
        "123456789012345",
        "1234567890123456",
        "9007199254740993",
        "1.000000000000001",
        "99999999999999.9",
        "5.",
        ".5",
        "-",
        ".",
        "1e5",
        "1.2.3",
        "+1",
        " 1",
        "0x10",
        "00012.50",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for _ in 0..20_000 {
        let digits = 1 + rng.below(17) as usize;
        let mut t: String = (0..digits)
            .map(|_| char::from(b'0' + rng.below(10) as u8))
            .collect();
        if rng.below(3) > 0 {
            let p = rng.below(digits as u64 + 1) as usize;
            t.insert(p, '.');
        }
        if rng.below(4) == 0 {
            t.insert(0, '-');
        }
        texts.push(t);
    }
    for t in &texts {
        match plain_decimal(t) {
            Some(v) => assert_eq!(
                Some(v.to_bits()),
                t.parse::<f64>().ok().map(f64::to_bits),
                "{t}"
            ),
            // What is not plain is left to the full reader: long, or not of the plain form.
            None => assert!(
                t.bytes().filter(u8::is_ascii_digit).count() > 15
                    || !t
                        .trim_start_matches('-')
                        .bytes()
                        .all(|b| b.is_ascii_digit() || b == b'.')
                    || t.starts_with('.')
                    || t.ends_with('.')
                    || t.starts_with("-.")
                    || t.matches('.').count() > 1
                    || t.trim_start_matches('-').is_empty(),
                "{t}"
            ),
        }
    }
}

#[test]
fn room_that_cannot_be_had_is_skipped_and_parts_still_append() {
    let csv = "case_id,Hospital_code,Hospital_type_code,City_Code_Hospital,Hospital_region_code,Available Extra Rooms in Hospital,Department,Ward_Type,Ward_Facility_Code,Bed Grade,patientid,City_Code_Patient,Type of Admission,Severity of Illness,Visitors with Patient,Age,Admission_Deposit,Stay
1,8,c,3,Z,3,radiotherapy,R,F,2.0,31397,7.0,Emergency,Extreme,2,51-60,4911.0,0-10
2,2,a,5,Z,2,surgery,S,F,,31397,,Trauma,Minor,2,41-50,5954.0,41-50
";
    let part = crate::data::load::parse_csv(
        csv.as_bytes().to_vec(),
        std::path::Path::new("t.csv"),
        &DatasetSpec::hospital(),
        crate::data::Labels::Required,
    )
    .unwrap();
    let mut whole = part.take(&[1]);
    // More rows than an address space holds, then more bytes than any machine has.
    whole.reserve(usize::MAX / 2);
    whole.reserve(1 << 45);
    whole.append(part.clone());
    assert_eq!(whole.n_rows(), 3);
    for (row, of) in [(0, 1), (1, 0), (2, 1)] {
        assert_eq!(whole.record(row), part.record(of), "row {row}");
    }
    assert_eq!(whole.target, Some(vec![1, 0, 1]));
}

#[test]
fn numeric_labels_are_canonical() {
    let c = spec_col("City_Code_Patient");
    assert_eq!(parse_cell(&c, Some("7.0")), Ok(Cell::Label("7".into())));
    assert_eq!(parse_cell(&c, Some("7")), Ok(Cell::Label("7".into())));
    assert_eq!(parse_cell(&c, Some("")), Ok(Cell::Missing));
    assert!(parse_cell(&c, Some("seven")).is_err());
}

#[test]
fn required_cells_must_be_present() {
    let c = spec_col("Age");
    assert_eq!(parse_cell(&c, None), Err(CellError::Missing));
    assert_eq!(parse_cell(&c, Some("  ")), Err(CellError::Missing));
    let n = spec_col("Visitors with Patient");
    assert_eq!(parse_cell(&n, Some("3")), Ok(Cell::Number(3.0)));
    assert_eq!(parse_cell(&n, Some("3.0")), Ok(Cell::Number(3.0)));
    assert!(matches!(
        parse_cell(&n, Some("3.5")),
        Err(CellError::WrongType { .. })
    ));
    let d = spec_col("Admission_Deposit");
    assert!(parse_cell(&d, Some("NaN")).is_err());
    assert!(parse_cell(&d, Some("inf")).is_err());
}

#[test]
fn one_missing_rule_for_every_column() {
    let nullable = [spec_col("Bed Grade"), spec_col("City_Code_Patient")];
    let required = [
        spec_col("Age"),
        spec_col("Admission_Deposit"),
        spec_col("Hospital_code"),
    ];
    for token in MISSING_TOKENS {
        for c in &nullable {
            assert_eq!(parse_cell(c, Some(token)), Ok(Cell::Missing), "{token}");
        }
        for c in &required {
            assert_eq!(
                parse_cell(c, Some(token)),
                Err(CellError::Missing),
                "{token}"
            );
        }
    }
    // A number for a text column is refused; numbers and numeric text for numeric columns
    // are one value.
    let spec = DatasetSpec::hospital();
    let rec = |k: &str, v: serde_json::Value| {
        let mut m = serde_json::Map::new();
        for c in spec.features() {
            let fill = match c.value {
                ValueType::Text => serde_json::json!("x"),
                _ => serde_json::json!(1),
            };
            m.insert(c.name.clone(), fill);
        }
        m.insert(k.into(), v);
        Frame::from_records(&spec, &[m])
    };
    let e = rec("Department", serde_json::json!(7)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "record 0, field 'Department': expected text, found the number 7"
    );
    assert!(rec("Department", serde_json::json!("7")).is_ok());
    assert!(rec("Visitors with Patient", serde_json::json!("3")).is_ok());
    assert!(rec("Bed Grade", serde_json::json!("NaN")).is_ok());
    let e = rec("Age", serde_json::json!("NaN")).unwrap_err();
    assert!(matches!(e, RecordError::Missing { .. }), "{e}");
}
