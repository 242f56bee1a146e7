use super::*;
use crate::data::Role;
use serde_json::{Map, Value};

/// The reader's answer for one record against serde_json's own map of it.
fn both<'t>(
    reader: &mut InputNames,
    text: &'t str,
    names: &[&str],
) -> (Vec<Scalar<'t>>, Vec<Scalar<'static>>) {
    let mut cells = vec![Scalar::I64(7); names.len()];
    read_record(text, reader, &mut cells);
    let map: Map<String, Value> = serde_json::from_str(text).unwrap_or_default();
    let want = names
        .iter()
        .map(|n| match map.get(*n) {
            None | Some(Value::Null) | Some(Value::Array(_)) | Some(Value::Object(_)) => {
                Scalar::Null
            }
            Some(Value::Bool(b)) => Scalar::Bool(*b),
            Some(Value::String(s)) => Scalar::Text(s.clone().into()),
            Some(Value::Number(n)) => n
                .as_i64()
                .map(Scalar::I64)
                .or(n.as_u64().map(Scalar::U64))
                .unwrap_or_else(|| Scalar::F64(n.as_f64().unwrap_or(f64::NAN))),
        })
        .collect();
    (cells, want)
}

#[test]
fn a_record_reads_as_serde_json_reads_it() {
    let names = ["Age", "a\"b", "n", "big", "x y"];
    // One reader for every record, as a segment's: its guesses from one record must not
    // mislead it on the next.
    let mut reader = InputNames::new(names.to_vec());
    for text in [
        r#"{"Age":"41-50","a\"b":1,"n":2.5,"big":1,"x y":null,"Age":"again"}"#,
        r#"{"n":1,"Age":"out of order","x y":3,"a\"b":"b"}"#,
        r#"{"Age":"41-50","a\"b":1,"n":2.5,"big":18446744073709551615,"x y":true}"#,
        r#"{"Age":1,"Age":"last","n":[1,2],"big":{"k":1},"other":{"deep":[[1]]}}"#,
        r#"{"A\u0067e":"escaped key","n":-0.0,"big":-9223372036854775808}"#,
        r#"{"n":null}"#,
        r#"{}"#,
        r#"not json"#,
        r#"{"Age":"cut"#,
        r#"{"Age":"x"} trailing"#,
        r#"[1,2]"#,
    ] {
        let (got, want) = both(&mut reader, text, &names);
        assert_eq!(got, want, "{text}");
    }
}

#[test]
fn cells_are_typed_by_their_column() {
    let spec = |value| ColumnSpec {
        name: "c".into(),
        role: Role::Numeric,
        value,
        nullable: true,
    };
    let one = |value, v: Scalar| {
        let mut col = Column::new("c", Kind::of(value), true, 1);
        typed_cell(&mut col, &spec(value), &v);
        match col.cells {
            Cells::I64(c) => c.first().map(|v| v.to_string()),
            Cells::F64(c) => c.first().map(|v| v.to_string()),
            Cells::Text { bytes, ends } => ends
                .first()
                .map(|&end| String::from_utf8_lossy(&bytes[..end]).into()),
            Cells::I32(c) => c.first().map(|v| v.to_string()),
        }
    };
    assert_eq!(one(ValueType::Int, Scalar::F64(3.0)), Some("3".into()));
    assert_eq!(one(ValueType::Int, Scalar::F64(3.5)), None);
    assert_eq!(one(ValueType::Int, Scalar::U64(u64::MAX)), None);
    assert_eq!(
        one(ValueType::Int, Scalar::Text(" 12 ".into())),
        Some("12".into())
    );
    assert_eq!(one(ValueType::Float, Scalar::Text("inf".into())), None);
    assert_eq!(one(ValueType::Float, Scalar::I64(-4)), Some("-4".into()));
    assert_eq!(one(ValueType::Text, Scalar::F64(1.0)), Some("1.0".into()));
    assert_eq!(
        one(ValueType::Text, Scalar::Bool(false)),
        Some("false".into())
    );
    assert_eq!(one(ValueType::Text, Scalar::Null), None);
}
