//! Property tests: the request parsers and the CSV loader take any bytes without panicking, and
//! what they refuse they refuse with a message that names where.

use std::path::Path;

use proptest::prelude::*;
use serde_json::Value;
use staytrack::data::load::parse_csv;
use staytrack::data::{DatasetSpec, Labels};
use staytrack::serve::input::{self, Expect};
use staytrack::serve::oip;

/// Any JSON value, a few levels deep, with names the hospital spec has and names it has not.
fn json_value() -> impl Strategy<Value = Value> {
    let name = prop_oneof![
        Just("Age".to_string()),
        Just("Department".to_string()),
        Just("Admission_Deposit".to_string()),
        Just("dataframe_split".to_string()),
        Just("columns".to_string()),
        Just("data".to_string()),
        Just("inputs".to_string()),
        Just("instances".to_string()),
        Just("name".to_string()),
        Just("shape".to_string()),
        "\\PC{0,12}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        "\\PC{0,16}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((name.clone(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

fn all_parsers(body: &[u8]) {
    let spec = DatasetSpec::hospital();
    let want = Expect::new(&spec, 50);
    let _ = input::precheck_json(body, &want);
    let _ = input::csv_records(body, &want);
    if let Ok(v) = input::parse_json(body) {
        let _ = input::plain_records(v.clone(), &want);
        let _ = input::mlflow_json(v.clone(), &want);
        let _ = oip::parse(body, None, &want);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn request_parsers_take_any_bytes(body in prop::collection::vec(any::<u8>(), 0..512)) {
        all_parsers(&body);
    }

    /// A binary v2 request: a valid JSON head naming binary inputs, then any bytes, with any
    /// declared sizes and header length. Refused with a 4xx or read; never a panic.
    #[test]
    fn binary_tensors_take_any_bytes(
        tail in prop::collection::vec(any::<u8>(), 0..256),
        sizes in prop::collection::vec(0u64..300, 1..4),
        rows in 0u64..70,
        cut in 0usize..64,
    ) {
        let spec = DatasetSpec::hospital();
        let want = Expect::new(&spec, 50);
        let names = [("Age", "BYTES"), ("Hospital_code", "INT32"), ("Bed Grade", "FP16")];
        let inputs: Vec<Value> = sizes.iter().zip(names).map(|(size, (name, dt))| serde_json::json!({
            "name": name, "datatype": dt, "shape": [rows],
            "parameters": {"binary_data_size": size},
        })).collect();
        let head = serde_json::to_vec(&serde_json::json!({"inputs": inputs})).unwrap();
        let mut body = head.clone();
        body.extend(&tail);
        for len in [head.len(), head.len().saturating_sub(cut), head.len() + cut] {
            if let Err(e) = oip::parse(&body, Some(&len.to_string()), &want) {
                prop_assert!(e.status.is_client_error(), "{} {}", e.status, e.message);
            }
        }
    }

    #[test]
    fn request_parsers_take_any_json(v in json_value()) {
        let body = serde_json::to_vec(&v).unwrap();
        all_parsers(&body);
        // Every error is a 4xx with words, never a 5xx.
        let spec = DatasetSpec::hospital();
        let want = Expect::new(&spec, 50);
        for r in [
            input::plain_records(v.clone(), &want).err(),
            input::mlflow_json(v.clone(), &want).err(),
            oip::parse(&body, None, &want).err(),
        ].into_iter().flatten() {
            prop_assert!(r.status.is_client_error(), "{}", r.status);
            prop_assert!(!r.message.is_empty());
        }
    }

    #[test]
    fn csv_bodies_never_panic(lines in prop::collection::vec("[A-Za-z0-9_ ,\"\\r-]{0,40}", 0..20)) {
        let body = lines.join("\n");
        all_parsers(body.as_bytes());
    }

    #[test]
    fn the_csv_loader_takes_any_bytes(body in prop::collection::vec(any::<u8>(), 0..2048)) {
        let spec = DatasetSpec::hospital();
        for labels in [Labels::Required, Labels::Optional] {
            if let Err(e) = parse_csv(body.clone(), Path::new("hostile.csv"), &spec, labels) {
                prop_assert!(e.to_string().contains("hostile.csv"), "{e}");
            }
        }
    }

    #[test]
    fn the_csv_loader_takes_any_row_under_a_real_header(
        rows in prop::collection::vec(prop::collection::vec("[^\\n]{0,12}", 0..22), 1..8)
    ) {
        let spec = DatasetSpec::hospital();
        let header = spec.columns.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(",");
        let mut text = header;
        for r in &rows {
            text.push('\n');
            text.push_str(&r.join(","));
        }
        if let Err(e) = parse_csv(text.into_bytes(), Path::new("rows.csv"), &spec, Labels::Required) {
            let msg = e.to_string();
            prop_assert!(msg.contains("rows.csv"), "{msg}");
        }
    }
}
