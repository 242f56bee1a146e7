use super::*;
use axum::http::StatusCode;

fn spec() -> DatasetSpec {
    DatasetSpec::hospital()
}

fn ok(body: &[u8], header: Option<&str>) -> InferRequest {
    let s = spec();
    parse(body, header, &Expect::new(&s, 100)).unwrap()
}

fn err(body: &[u8], header: Option<&str>) -> ApiError {
    let s = spec();
    parse(body, header, &Expect::new(&s, 100)).unwrap_err()
}

fn binary_request(head: &Value, parts: &[&[u8]]) -> (Vec<u8>, String) {
    let mut body = serde_json::to_vec(head).unwrap();
    let n = body.len();
    for p in parts {
        body.extend_from_slice(p);
    }
    (body, n.to_string())
}

fn bytes_tensor(items: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    for s in items {
        out.extend((s.len() as u32).to_le_bytes());
        out.extend(s.as_bytes());
    }
    out
}

#[test]
fn json_tensors_become_records() {
    let r = ok(
        json!({"id": "q1", "inputs": [
            {"name": "Hospital_code", "shape": [2], "datatype": "INT64", "data": [1, 2]},
            {"name": "Age", "shape": [2, 1], "datatype": "BYTES", "data": [["21-30"], ["31-40"]]},
            {"name": "Bed Grade", "shape": [2], "datatype": "FP64", "data": [2.0, null]}
        ]})
        .to_string()
        .as_bytes(),
        None,
    );
    assert_eq!(r.id, Some(json!("q1")));
    assert_eq!(r.records.len(), 2);
    assert_eq!(r.records[1]["Age"], json!("31-40"));
    assert_eq!(r.records[1]["Bed Grade"], Value::Null);
    assert_eq!(r.outputs.len(), 2);
    assert!(r.outputs.iter().all(|w| !w.binary));
}

#[test]
fn binary_tensors_decode_every_type() {
    let ints: Vec<u8> = [7i64, 9].iter().flat_map(|v| v.to_le_bytes()).collect();
    let floats: Vec<u8> = [2.5f32, f32::NAN]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let half: Vec<u8> = [0x3c00u16, 0x4100]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let ages = bytes_tensor(&["21-30", "ü"]);
    let head = json!({
        "inputs": [
            {"name": "Hospital_code", "shape": [2], "datatype": "INT64", "parameters": {"binary_data_size": 16}},
            {"name": "Bed Grade", "shape": [2, 1], "datatype": "FP32", "parameters": {"binary_data_size": 8}},
            {"name": "Admission_Deposit", "shape": [2], "datatype": "FP16", "parameters": {"binary_data_size": 4}},
            {"name": "Age", "shape": [2], "datatype": "BYTES", "parameters": {"binary_data_size": ages.len()}}
        ],
        "parameters": {"binary_data_output": true},
        "outputs": [{"name": "class"}, {"name": "probability", "parameters": {"binary_data": false}}]
    });
    let (body, len) = binary_request(&head, &[&ints, &floats, &half, &ages]);
    let r = ok(&body, Some(&len));
    assert_eq!(r.records[1]["Hospital_code"], json!(9));
    assert_eq!(r.records[0]["Bed Grade"], json!(2.5));
    assert_eq!(r.records[1]["Bed Grade"], Value::Null);
    assert_eq!(r.records[0]["Admission_Deposit"], json!(1.0));
    assert_eq!(r.records[1]["Admission_Deposit"], json!(2.5));
    assert_eq!(r.records[1]["Age"], json!("ü"));
    assert_eq!(
        r.outputs,
        vec![
            Wanted {
                output: Output::Class,
                binary: true
            },
            Wanted {
                output: Output::Probability,
                binary: false
            }
        ]
    );
    // One byte short, one byte over, a lying header.
    let (short, len) = binary_request(&head, &[&ints, &floats, &half, &ages[..ages.len() - 1]]);
    assert!(err(&short, Some(&len)).message.contains("remain"));
    let (long, len) = binary_request(&head, &[&ints, &floats, &half, &ages, b"x"]);
    assert!(err(&long, Some(&len)).message.contains("1 bytes after"));
    assert!(err(&body, Some("99999")).message.contains("body holds"));
    assert!(err(&body, Some("ten")).message.contains("byte count"));
}

#[test]
fn datatypes_and_shapes_are_checked() {
    let one = |name: &str, datatype: &str, shape: Value, data: Value| {
        let body =
            json!({"inputs": [{"name": name, "datatype": datatype, "shape": shape, "data": data}]});
        err(body.to_string().as_bytes(), None)
    };
    for (e, words) in [
        (
            one("Age", "FP128", json!([1]), json!([1])),
            "unknown datatype 'FP128'",
        ),
        (
            one("Hospital_code", "BYTES", json!([1]), json!(["21"])),
            "datatype BYTES does not fit",
        ),
        (
            one("Hospital_code", "FP64", json!([1]), json!([2.0])),
            "datatype FP64 does not fit",
        ),
        (
            one("Department", "INT64", json!([1]), json!([7])),
            "datatype INT64 does not fit",
        ),
        (
            one("Hospital_code", "INT8", json!([1]), json!([300])),
            "an integer within INT8",
        ),
        (
            one("Admission_Deposit", "FP16", json!([1]), json!([70000.0])),
            "a number (FP16)",
        ),
        (
            one("Admission_Deposit", "FP32", json!([1]), json!([1e300])),
            "a number (FP32)",
        ),
        (
            one("Admission_Deposit", "BF16", json!([1]), json!([1e39])),
            "a number (BF16)",
        ),
        (
            one("Hospital_code", "INT64", json!([1]), json!([1.5])),
            "an integer within INT64",
        ),
        (
            one("Age", "BYTES", json!([1]), json!([7])),
            "a string (BYTES)",
        ),
        (
            one("Age", "BYTES", json!([2, 2]), json!([["a", "b"]])),
            "is not [rows] or [rows, 1]",
        ),
        (
            one("Age", "BYTES", json!([3]), json!(["a"])),
            "shape says 3 rows but data holds 1",
        ),
        (
            one("Age", "BYTES", json!([-1]), json!(["a"])),
            "needs a shape",
        ),
    ] {
        assert_eq!(e.status, StatusCode::BAD_REQUEST, "{}", e.message);
        assert!(e.message.contains(words), "{} / {words}", e.message);
    }
    // Rows over the limit are refused from the shape, before any data is read.
    let e = one("Age", "BYTES", json!([101]), json!([]));
    assert_eq!(e.status, StatusCode::PAYLOAD_TOO_LARGE);
    // Integers fit a float column.
    let body =
        json!({"inputs": [{"name": "Bed Grade", "datatype": "INT32", "shape": [1], "data": [3]}]});
    assert_eq!(
        ok(body.to_string().as_bytes(), None).records[0]["Bed Grade"],
        json!(3)
    );
}

#[test]
fn outputs_and_parameters_are_checked() {
    let with = |extra: Value| {
        let mut body = json!({"inputs": [{"name": "Age", "datatype": "BYTES", "shape": [1], "data": ["21-30"]}]});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body.to_string()
    };
    let r = ok(
        with(json!({"outputs": [{"name": "class"}]})).as_bytes(),
        None,
    );
    assert_eq!(
        r.outputs,
        vec![Wanted {
            output: Output::Class,
            binary: false
        }]
    );
    for (extra, words) in [
        (
            json!({"outputs": [{"name": "logits"}]}),
            "no output 'logits'",
        ),
        (
            json!({"outputs": [{"name": "class"}, {"name": "class"}]}),
            "asked for twice",
        ),
        (
            json!({"outputs": [{"name": "class", "parameters": {"classification": 2}}]}),
            "classification is not supported",
        ),
        (
            json!({"outputs": [{"name": "class", "parameters": {"binary_data": "yes"}}]}),
            "must be true or false",
        ),
        (
            json!({"parameters": {"binary_data_output": 1}}),
            "must be true or false",
        ),
        (json!({"parameters": []}), "must be an object"),
        (json!({"id": 7}), "id must be a string"),
    ] {
        let e = err(with(extra).as_bytes(), None);
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(e.message.contains(words), "{} / {words}", e.message);
    }
}

#[test]
fn responses_put_binary_outputs_after_the_json() {
    let wanted = [
        Wanted {
            output: Output::Probability,
            binary: true,
        },
        Wanted {
            output: Output::Class,
            binary: false,
        },
    ];
    let e = encode(
        "staytrack",
        3,
        Some(json!("r")),
        &wanted,
        &[0.25, 0.75],
        &[0, 1],
        &["a".to_string(), "b".to_string()],
    );
    let head: Value = serde_json::from_slice(&e.json).unwrap();
    assert_eq!(head["model_version"], "3");
    assert_eq!(head["parameters"]["prediction_ids"], "a,b");
    assert_eq!(head["id"], "r");
    assert_eq!(head["outputs"][0]["parameters"]["binary_data_size"], 16);
    assert!(head["outputs"][0].get("data").is_none());
    assert_eq!(head["outputs"][1]["data"], json!([0, 1]));
    let bin = e.binary.unwrap();
    assert_eq!(f64::from_le_bytes(bin[8..16].try_into().unwrap()), 0.75);
    let plain = encode(
        "staytrack",
        3,
        None,
        &wanted[1..],
        &[0.25],
        &[0],
        &["c".to_string()],
    );
    assert!(plain.binary.is_none());
}
