use super::*;

fn cells(t: &Table) -> Vec<Vec<Option<String>>> {
    (0..t.rows())
        .map(|r| {
            t.columns
                .iter()
                .map(|c| c[r].as_ref().map(|v| v.to_string()))
                .collect()
        })
        .collect()
}

#[test]
fn quotes_line_ends_and_blank_lines() {
    let text = "\n\na,b,c\r\n1,\"x, \"\"y\"\"\",\r\n\n2,\"two\nlines\",3\n\n4,,\"\"\n5";
    let t = parse(text).unwrap();
    assert_eq!(t.header, vec!["a", "b", "c"]);
    let s = |v: &str| Some(v.to_string());
    assert_eq!(
        cells(&t),
        vec![
            vec![s("1"), s("x, \"y\""), None],
            vec![s("2"), s("two\nlines"), s("3")],
            vec![s("4"), None, None],
            vec![s("5"), None, None],
        ]
    );
    assert_eq!(t.lines, vec![4, 6, 9, 10]);
    assert_eq!(t.column("b").unwrap()[1].as_deref(), Some("two\nlines"));
}

#[test]
fn a_text_without_quotes_splits_on_every_core_the_same_way() {
    let mut text = String::from("\r\n\na,b,c\r\n");
    for i in 0..5000 {
        match i % 7 {
            0 => text.push('\n'),
            1 => text.push_str(",,\r\n"),
            2 => text.push_str(&format!("{i},,x\r\n")),
            _ => text.push_str(&format!("{i},{},y\n", i * 2)),
        }
    }
    text.push_str("last,1");
    let plain = parse(&text).unwrap();
    // The general reader (a quote added to a field that does not start with one changes
    // nothing but the path).
    let quoted = parse_quoted(&text).unwrap();
    assert_eq!(plain, quoted);
    assert_eq!(plain.header, vec!["a", "b", "c"]);
    assert_eq!(plain.lines.last(), Some(&5004));
    assert_eq!(plain.rows(), 5000 - 2 * 715 + 1);
}

#[test]
fn broken_text_is_an_error_naming_its_line() {
    assert_eq!(parse("a\n\"open\n\n"), Err(CsvError::OpenQuote(2)));
    assert_eq!(
        parse("a\nx\"y\n").unwrap().columns[0][0].as_deref(),
        Some("x\"y")
    );
    assert_eq!(text(b"a\n\xff"), Err(CsvError::NotUtf8(2)));
    assert_eq!(parse("").unwrap().rows(), 0);
    assert_eq!(parse("a,b\n").unwrap().header, vec!["a", "b"]);
}

#[test]
fn every_line_end_reads_the_same_and_blank_lines_are_no_rows() {
    let want = parse("a,b\n1,x\n2,y\n").unwrap();
    for text in [
        "a,b\r1,x\r2,y\r",
        "a,b\r\n1,x\r\n2,y",
        "a,b\r1,x\n2,y\r\n",
        "\u{feff}a,b\n1,x\n2,y\n",
    ] {
        let t = super::text(text.as_bytes()).unwrap();
        let plain = parse(t).unwrap();
        assert_eq!(
            (plain.header.clone(), cells(&plain)),
            (want.header.clone(), cells(&want)),
            "{text:?}"
        );
        assert_eq!(plain.lines, vec![2, 3], "{text:?}");
        assert_eq!(plain, parse_quoted(t).unwrap(), "{text:?}");
    }
    // Blank lines, of commas, spaces and tabs, before the header and between rows.
    let text = " \r\n,,\n\t\ra,b\r\n \r1,x\n , \n2,\"y\nz\"\r\r\n";
    let t = parse(text).unwrap();
    assert_eq!(t.header, vec!["a", "b"]);
    assert_eq!(t.lines, vec![6, 8]);
    assert_eq!(t.column("b").unwrap()[1].as_deref(), Some("y\nz"));
    let h = header(text).unwrap();
    assert_eq!((h.names.len(), h.line), (2, 5));
    // A quoted field's lone `\r` is the field's, and a line of the file.
    let t = parse("a,b\r\"x\ry\",1\r2,3").unwrap();
    assert_eq!(t.column("a").unwrap()[0].as_deref(), Some("x\ry"));
    assert_eq!(t.lines, vec![2, 4]);
}

#[test]
fn a_stray_quote_opens_nothing_and_wide_rows_are_named() {
    // (line, open before, open after), as `read_field` reads the line.
    for (line, before, after) in [
        ("1,ab\"c,3\n", false, false),
        ("\"a\"b\",c\n", false, false),
        ("1,ab\"c,\"Q\n", false, true),
        ("x\"\"y,\"z\"\"\n", false, true),
        ("R\",F\n", true, false),
        ("R\"\",F\n", true, true),
        ("no quote\n", true, true),
        ("\"", false, true),
    ] {
        assert_eq!(open_after(line.as_bytes(), before), after, "{line:?}");
    }
    let text = "a,b\n1,2,3\n4,5\n6,7,8,9\n";
    let want = vec![(2, 3), (4, 4)];
    assert_eq!(parse(text).unwrap().wide, want);
    assert_eq!(parse_quoted(text).unwrap().wide, want);
}

#[test]
fn a_name_twice_in_the_header_is_refused_whatever_the_path() {
    let dup = CsvError::DuplicateColumn {
        column: "Age".into(),
        first: 2,
        second: 4,
    };
    for text in [
        "\nid,Age,x,Age\n1,2,3,4\n",
        "id,Age,x,\"Age\"\n1,2,3,4\n",
        "id,Age,x,Age\r1,2,3,4\r",
    ] {
        assert_eq!(parse(text), Err(dup.clone()), "{text:?}");
        assert_eq!(header(text), Err(dup.clone()), "{text:?}");
        let tiles = for_each_tile(text, 10, Misfits::Fit, |_| true);
        assert_eq!(tiles, Err(dup.clone()), "{text:?}");
    }
    assert_eq!(
        dup.to_string(),
        "column 'Age' appears more than once in the header (positions 2 and 4)"
    );
    assert!(unique(&["a", "b", "c"]).is_ok());
}

/// Every tile's rows: their lines and fields, with the header and the misfit.
type Split = (
    Vec<String>,
    Vec<(usize, Vec<Option<String>>)>,
    Option<Misfit>,
);

fn tiles_of(text: &str, rows: usize, misfits: Misfits, quoted: bool) -> Split {
    let mut out = Vec::new();
    let mut collect = |t: Tile| {
        assert!(t.rows() <= rows);
        for r in 0..t.rows() {
            let fields = (0..t.width)
                .map(|c| t.field(r, c).map(str::to_string))
                .collect();
            out.push((t.line(r), fields));
        }
        true
    };
    let (header, misfit) = if quoted {
        quoted_tiles(text, rows, misfits, &mut collect).unwrap()
    } else {
        for_each_tile(text, rows, misfits, &mut collect).unwrap()
    };
    (header, out, misfit)
}

#[test]
fn tiles_of_a_text_without_quotes_are_those_of_the_general_reader() {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n) as usize
    };
    let cells = [
        "",
        "a",
        "7",
        "bb",
        "0.25",
        " ",
        "x\ry",
        "radiotherapy",
        "More than 100 Days",
    ];
    for case in 0..300 {
        let width = 1 + next(5);
        let mut text = String::from("\n");
        text.push_str(
            &(0..width)
                .map(|c| format!("c{c}"))
                .collect::<Vec<_>>()
                .join(","),
        );
        text.push('\n');
        for _ in 0..next(60) {
            let fields = match next(20) {
                0 => 0,
                1 => width + 1,
                2 if width > 1 => width - 1,
                3 => {
                    text.push_str(&[",", " ", "\t", ", "][next(4)].repeat(next(4)));
                    text.push_str(["\n", "\r\n", "\r"][next(3)]);
                    continue;
                }
                _ => width,
            };
            let row: Vec<&str> = (0..fields)
                .map(|_| cells[next(cells.len() as u64)])
                .collect();
            text.push_str(&row.join(","));
            text.push_str(["\n", "\n", "\r\n", "\r"][next(4)]);
        }
        if next(2) == 0 {
            text.pop();
        }
        for misfits in [Misfits::Stop, Misfits::Fit] {
            let rows = 1 + next(7);
            let plain = tiles_of(&text, rows, misfits, false);
            assert_eq!(
                plain,
                tiles_of(&text, rows, misfits, true),
                "case {case}: {text:?}"
            );
            if misfits == Misfits::Fit {
                let table = parse(&text).unwrap();
                let rows: Vec<_> = (0..table.rows())
                    .map(|r| {
                        let f = table
                            .columns
                            .iter()
                            .map(|c| c[r].as_deref().map(str::to_string));
                        (table.lines[r], f.collect::<Vec<_>>())
                    })
                    .collect();
                assert_eq!(plain.1, rows, "case {case}");
            }
        }
    }
    // A line of very many fields is counted in full, and only its first ones are kept.
    let long = format!(
        "a,b,c\n1,2,3\n4,5,6{}\n{}\n7,8,9\n",
        ",x".repeat(100_000),
        ",".repeat(99_999)
    );
    let (_, rows, misfit) = tiles_of(&long, 10, Misfits::Stop, false);
    assert_eq!(rows.len(), 1);
    assert_eq!(
        misfit,
        Some(Misfit {
            line: 3,
            found: 100_003
        })
    );
    let fit = tiles_of(&long, 10, Misfits::Fit, false);
    assert_eq!(fit, tiles_of(&long, 10, Misfits::Fit, true));
    let s = |v: &str| Some(v.to_string());
    assert_eq!(fit.1[1], (3, vec![s("4"), s("5"), s("6")]));
    // The line of commas alone is blank, so the next row is on line 5.
    assert_eq!(fit.1[2], (5, vec![s("7"), s("8"), s("9")]));
    // A misfit stops the split at its line, with the rows before it handed out.
    let (_, rows, misfit) = tiles_of("a,b\n1,2\n\n3\n4,5\n", 1, Misfits::Stop, false);
    assert_eq!(rows.len(), 1);
    assert_eq!(misfit, Some(Misfit { line: 4, found: 1 }));
}
