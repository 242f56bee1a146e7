use super::*;

#[test]
fn texts_seen_before_come_back_with_their_values() {
    let mut seen = Seen::new();
    // More texts than slots, of every length around the packed sizes, so slots are shared
    // and evicted; and texts that agree in their first and last bytes.
    let texts: Vec<String> = (0..3_000)
        .map(|i| {
            let len = 1 + i % 24;
            let body = format!("{i:0>width$}", width = len);
            body[body.len() - len..].to_string()
        })
        .chain(["abcXdef", "abcYdef", "ab", "aXb", "aYb"].map(String::from))
        .collect();
    let mut want = HashMap::new();
    for (v, t) in texts.iter().enumerate() {
        if !want.contains_key(t) {
            seen.insert(t, v as u32);
            want.insert(t.clone(), v as u32);
        }
    }
    for _ in 0..2 {
        for t in &texts {
            assert_eq!(seen.get(t), Some(want[t]), "{t}");
        }
    }
    assert_eq!(seen.get("never"), None);
    assert_eq!(seen.get("abcZdef"), None);
    assert_eq!(seen.get(""), None);
}

/// A hospital file of `rows` rows whose later rows bring new levels, missing cells and a
/// quoted field, with `bad` (a row number) holding a deposit that is not a number.
fn hospital_csv(rows: usize, bad: Option<usize>) -> String {
    let mut s = String::from(
        "case_id,Hospital_code,Hospital_type_code,City_Code_Hospital,Hospital_region_code,\
         Available Extra Rooms in Hospital,Department,Ward_Type,Ward_Facility_Code,Bed Grade,\
         patientid,City_Code_Patient,Type of Admission,Severity of Illness,\
         Visitors with Patient,Age,Admission_Deposit,Stay\n",
    );
    let stays = ["0-10", "11-20", "31-40", "More than 100 Days"];
    for r in 1..=rows {
        let dept = if r % 7_001 == 0 {
            "\"gyn,\nae\""
        } else {
            "surgery"
        };
        let bed = if r % 13 == 0 {
            String::new()
        } else {
            format!("{}", r % 4 + 1)
        };
        let deposit = if Some(r) == bad {
            "lots".to_string()
        } else {
            format!("{}.5", 3000 + r % 997)
        };
        s.push_str(&format!(
            "{r},{},c,{},Z,{},{dept},R,F,{bed},{},{},Emergency,Minor,2,51-60,{deposit},{}\n",
            r / 5_000 + 1,
            r % 11,
            r % 5,
            r % 977,
            r / 9_000,
            stays[r % 4],
        ));
    }
    s
}

#[test]
fn a_file_read_in_parts_is_the_file_read_whole() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("train.csv");
    let spec = DatasetSpec::hospital();
    let rows = 3 * LOAD_CHUNK_ROWS + 123;
    let text = hospital_csv(rows, None);
    std::fs::write(&path, &text).unwrap();
    let parts = load_csv(&path, &spec, Labels::Required).unwrap();
    let whole = parse_csv(text.into_bytes(), &path, &spec, Labels::Required).unwrap();
    assert_eq!(parts.n_rows(), rows);
    // Compared as text, so a missing number (NaN) equals itself.
    for ((name, a), (_, b)) in parts.columns().zip(whole.columns()) {
        assert!(
            format!("{a:?}") == format!("{b:?}"),
            "column '{name}' differs"
        );
    }
    assert!(parts.labels == whole.labels && parts.target == whole.target);
    assert_eq!(parts.columns().count(), whole.columns().count());
    // A bad cell in a later part is reported as the whole file reports it, lines of commas
    // alone in earlier parts counted as no rows.
    let text = hospital_csv(rows, Some(2 * LOAD_CHUNK_ROWS + 77))
        .replacen("\n", "\n,,,\n", 10)
        .replacen("\n2,", "\n,\r\n2,", 1);
    std::fs::write(&path, &text).unwrap();
    let parts = load_csv(&path, &spec, Labels::Required).unwrap_err();
    let whole = parse_csv(text.into_bytes(), &path, &spec, Labels::Required).unwrap_err();
    assert_eq!(parts.to_string(), whole.to_string());
    assert!(
        parts
            .to_string()
            .contains(&format!("row {}", 2 * LOAD_CHUNK_ROWS + 77)),
        "{parts}"
    );
}

#[test]
fn the_first_bad_row_is_found_across_tiles_and_columns() {
    let path = Path::new("t.csv");
    let spec = DatasetSpec::hospital();
    let rows = 3 * TILE_ROWS + 10;
    let text = hospital_csv(rows, None).replace("\"gyn,\nae\"", "surgery");
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    // Data row `r` is on file line `r + 1`, the same index in `lines`.
    let set = |lines: &mut Vec<String>, r: usize, col: usize, v: &str| {
        let mut f: Vec<String> = lines[r].split(',').map(str::to_string).collect();
        f[col] = v.to_string();
        lines[r] = f.join(",");
    };
    // The same error from a text without quotes and from one with a quoted field.
    let load = |lines: &[String]| {
        let text = lines.join("\n") + "\n";
        let err = |t: String| {
            parse_csv(t.into_bytes(), path, &spec, Labels::Required)
                .unwrap_err()
                .to_string()
        };
        let plain = err(text.clone());
        assert_eq!(plain, err(text.replacen(",surgery,", ",\"surgery\",", 1)));
        plain
    };
    let late = 2 * TILE_ROWS + 5;
    // A bad last column in a later tile, a ragged row after it.
    set(&mut lines, late + 3, 16, "lots");
    set(&mut lines, late + 2, 0, "1,2");
    let e = load(&lines);
    assert!(e.contains(&format!("row {}", late + 2)), "{e}");
    assert!(e.contains("19 field(s)"), "{e}");
    // Within one row, the first column of the spec is named, whichever is read first.
    set(&mut lines, late, 16, "lots");
    set(&mut lines, late, 2, "");
    let e = load(&lines);
    assert!(
        e.contains(&format!(
            "row {late} (line {}), column 'Hospital_type_code'",
            late + 1
        )),
        "{e}"
    );
    // An earlier row in the same tile wins over an earlier column.
    set(&mut lines, late - 1, 17, "forever");
    let e = load(&lines);
    assert!(
        e.contains(&format!("row {} (line {late}), column 'Stay'", late - 1)),
        "{e}"
    );
    // A blank line moves the lines, not the rows.
    lines.insert(TILE_ROWS, ",,,".to_string());
    let e = load(&lines);
    assert!(
        e.contains(&format!(
            "row {} (line {}), column 'Stay'",
            late - 1,
            late + 1
        )),
        "{e}"
    );
}
