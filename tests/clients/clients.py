"""The real clients against a running `staytrack serve`: MLflow's scoring client, tritonclient's
HTTP client and prometheus_client's parser, unmodified.

Usage: clients.py BASE_URL ROWS_CSV LATEST_CSV LATEST_VERSION OLD_CSV OLD_VERSION

ROWS_CSV holds the rows to send; LATEST_CSV and OLD_CSV are what `staytrack score` wrote for them
with the alias's version and an older one. Every call's predictions must equal those. Prints one
line per client call ("ok <client> <call>") and exits non-zero at the first failure.
"""

import json
import sys

import numpy as np
import pandas as pd
import requests
import tritonclient.http as triton
from mlflow.deployments import PredictionsResponse
from mlflow.exceptions import RestException
from mlflow.models.utils import convert_input_example_to_serving_input
from mlflow.pyfunc.scoring_server.client import ScoringServerClient
from prometheus_client.parser import text_string_to_metric_families
from tritonclient.utils import InferenceServerException

TOLERANCE = 5e-7  # `score` writes six decimals


def ok(client, call):
    print(f"ok {client} {call}", flush=True)


def same_probs(got, want, what):
    got = np.asarray(got, dtype=np.float64).reshape(-1)
    assert got.shape == want.shape, f"{what}: {got.shape} values for {want.shape}"
    worst = float(np.max(np.abs(got - want)))
    assert worst <= TOLERANCE, f"{what}: differs from `staytrack score` by {worst}"


def same_classes(got, want, what):
    got = np.asarray(got, dtype=np.int64).reshape(-1)
    assert (got == want).all(), f"{what}: classes {got.tolist()} != {want.tolist()}"


def mlflow_calls(base, host, port, df, want_p, want_c):
    client = ScoringServerClient(host, port)
    client.wait_server_ready(timeout=30)
    ok("mlflow", "ScoringServerClient.wait_server_ready")
    assert client.get_version().strip(), "empty /version"
    ok("mlflow", "ScoringServerClient.get_version")

    # A DataFrame (dataframe_split, NaN as pandas writes it): classes, then probabilities.
    r = client.invoke(df)
    same_classes(r.get_predictions()[0], want_c, "invoke(DataFrame)")
    ok("mlflow", "invoke(DataFrame) -> dataframe_split")
    r = client.invoke(df, params={"predict_method": "predict_proba"})
    same_probs(r.get_predictions().to_numpy()[:, 1], want_p, "invoke(DataFrame, predict_proba)")
    ok("mlflow", "invoke(DataFrame, params={'predict_method': 'predict_proba'})")

    # What MLflow writes as a model's serving input example.
    r = client.invoke(convert_input_example_to_serving_input(df))
    same_classes(r["predictions"], want_c, "convert_input_example_to_serving_input")
    ok("mlflow", "invoke(convert_input_example_to_serving_input(DataFrame))")

    # Records, as a list and under every key MLflow reads.
    records = json.loads(df.to_json(orient="records"))
    r = client.invoke(records)
    same_classes(r["predictions"], want_c, "invoke(list of records)")
    ok("mlflow", "invoke(list of records) -> inputs")
    for key in ["dataframe_records", "instances", "inputs"]:
        r = client.invoke(json.dumps({key: records}))
        same_classes(r["predictions"], want_c, key)
        ok("mlflow", f"invoke({key})")
    columns = {c: json.loads(df[c].to_json(orient="values")) for c in df.columns}
    r = client.invoke(json.dumps({"inputs": columns}))
    same_classes(r["predictions"], want_c, "inputs as columns")
    ok("mlflow", "invoke(inputs as an object of columns)")

    # CSV with each of pandas' spellings of a missing value.
    for na in ["", "NaN", "nan", "NA", "null"]:
        body = df.to_csv(index=False, na_rep=na)
        resp = requests.post(
            base + "/invocations",
            data=body,
            headers={"Content-Type": "text/csv"},
            timeout=30,
        )
        assert resp.status_code == 200, f"CSV with {na!r}: {resp.status_code} {resp.text}"
        same_classes(PredictionsResponse.from_json(resp.text)["predictions"], want_c, f"CSV {na!r}")
    ok("mlflow", "POST text/csv (missing as '', NaN, nan, NA, null)")

    # Errors in MLflow's shape, read by MLflow's own exception.
    bad = df.head(2).copy()
    bad["Department"] = 7
    resp = requests.post(
        base + "/invocations",
        data=json.dumps({"dataframe_split": json.loads(bad.to_json(orient="split"))}),
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    assert resp.status_code == 422, resp.text
    e = RestException(resp.json())
    assert e.error_code == "INVALID_PARAMETER_VALUE", e.error_code
    assert "Department" in e.message and resp.json()["fields"] == ["Department"], resp.text
    ok("mlflow", "RestException(error body): error_code and message")
    try:
        client.invoke('{"dataframe_split": 1}')
        raise AssertionError("a bad body was answered 200")
    except Exception as err:  # the client raises a bare Exception with the status in it
        assert "error code 400" in str(err), str(err)
    ok("mlflow", "invoke(bad body) raises with the status")


def triton_inputs(meta, df, binary, shape_n1=False):
    inputs = []
    for m in meta["inputs"]:
        name, datatype = m["name"], m["datatype"]
        col = df[name]
        if datatype == "BYTES":
            arr = np.array([str(v).encode() for v in col], dtype=np.object_)
        elif datatype == "INT64":
            arr = col.to_numpy(np.int64)
        else:
            arr = col.to_numpy(np.float64)
        if shape_n1:
            arr = arr.reshape(-1, 1)
        t = triton.InferInput(name, list(arr.shape), datatype)
        t.set_data_from_numpy(arr, binary_data=binary)
        inputs.append(t)
    return inputs


def expect_error(status, words, call):
    try:
        call()
    except InferenceServerException as e:
        assert e.status() == str(status), f"status {e.status()} ({e.message()}), wanted {status}"
        assert words in e.message(), f"{e.message()!r} lacks {words!r}"
        return
    raise AssertionError(f"no error; wanted {status} {words!r}")


def triton_calls(host, port, df, latest, old):
    (latest_v, latest_p, latest_c), (old_v, old_p, old_c) = latest, old
    c = triton.InferenceServerClient(url=f"{host}:{port}")
    assert c.is_server_live() and c.is_server_ready()
    ok("tritonclient", "is_server_live / is_server_ready")
    server = c.get_server_metadata()
    assert "binary_tensor_data" in server["extensions"], server
    ok("tritonclient", "get_server_metadata (binary_tensor_data)")
    meta = c.get_model_metadata("staytrack")
    assert str(latest_v) in meta["versions"] and str(old_v) in meta["versions"], meta
    assert c.is_model_ready("staytrack") and c.is_model_ready("staytrack", str(old_v))
    assert c.get_model_metadata("staytrack", str(old_v))["name"] == "staytrack"
    ok("tritonclient", "get_model_metadata / is_model_ready, by alias and by version")

    # The client's defaults: binary inputs, every output back as binary.
    r = c.infer("staytrack", triton_inputs(meta, df, binary=True))
    same_probs(r.as_numpy("probability"), latest_p, "binary infer")
    same_classes(r.as_numpy("class"), latest_c, "binary infer")
    assert r.get_response()["model_version"] == str(latest_v)
    ok("tritonclient", "infer(binary_data=True, outputs=None)")

    # JSON inputs and outputs, shape [n, 1], under the alias's name.
    outs = [triton.InferRequestedOutput(n, binary_data=False) for n in ["probability", "class"]]
    r = c.infer("production", triton_inputs(meta, df, binary=False, shape_n1=True), outputs=outs)
    same_probs(r.as_numpy("probability"), latest_p, "JSON infer")
    same_classes(r.as_numpy("class"), latest_c, "JSON infer")
    ok("tritonclient", "infer(binary_data=False) by alias name, shape [n, 1]")

    # A version by number, mixed binary and JSON outputs.
    outs = [
        triton.InferRequestedOutput("class", binary_data=False),
        triton.InferRequestedOutput("probability", binary_data=True),
    ]
    r = c.infer("staytrack", triton_inputs(meta, df, binary=True), model_version=str(old_v), outputs=outs)
    assert r.get_response()["model_version"] == str(old_v)
    same_probs(r.as_numpy("probability"), old_p, f"version {old_v}")
    same_classes(r.as_numpy("class"), old_c, f"version {old_v}")
    r = c.infer("staytrack", triton_inputs(meta, df, binary=False), model_version=str(old_v))
    same_probs(r.as_numpy("probability"), old_p, f"version {old_v}, JSON inputs")
    ok("tritonclient", "infer(model_version=older), binary and JSON")

    # Only what was asked for.
    r = c.infer("staytrack", triton_inputs(meta, df, binary=True), outputs=[triton.InferRequestedOutput("class")])
    assert r.as_numpy("probability") is None
    same_classes(r.as_numpy("class"), latest_c, "class only")
    ok("tritonclient", "infer(outputs=[class]) returns class only")

    # Refusals with the protocol's 400 and a message.
    def with_datatype(name, datatype, arr):
        inputs = [t for t in triton_inputs(meta, df, binary=True) if t.name() != name]
        t = triton.InferInput(name, list(arr.shape), datatype)
        t.set_data_from_numpy(arr)
        return inputs + [t]

    n = len(df)
    expect_error(400, "does not fit", lambda: c.infer("staytrack", with_datatype("Hospital_code", "FP64", np.ones(n))))
    expect_error(
        400,
        "does not fit",
        lambda: c.infer("staytrack", with_datatype("Hospital_code", "BYTES", np.array([b"21"] * n, dtype=np.object_))),
    )
    expect_error(400, "no output 'logits'", lambda: c.infer("staytrack", triton_inputs(meta, df, True), outputs=[triton.InferRequestedOutput("logits")]))
    expect_error(404, "no version 999", lambda: c.infer("staytrack", triton_inputs(meta, df, True), model_version="999"))
    ok("tritonclient", "wrong datatype, unknown output, unknown version: errors")


def prometheus_calls(base):
    requests.get(base + "/no/such/route", timeout=10)
    text = requests.get(base + "/metrics", timeout=10).text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    hist = families["staytrack_http_request_duration_seconds"]
    tops = {
        float(s.labels["le"])
        for s in hist.samples
        if s.name.endswith("_bucket") and s.labels["le"] != "+Inf"
    }
    assert max(tops) == 30.0, f"top bucket {max(tops)}, not the 30 s request timeout"
    sums = {s.labels["route"]: s.value for s in hist.samples if s.name.endswith("_sum")}
    assert sums.get("unmatched", 0) > 0, f"unmatched requests not timed: {sums}"
    assert "/v2/models/{name}/versions/{version}/infer" in sums, sums
    requests_total = families["staytrack_http_requests"]
    assert any(s.labels["status"] == "400" for s in requests_total.samples)
    ok("prometheus_client", "text_string_to_metric_families(/metrics)")


def main():
    base, rows_csv, latest_csv, latest_v, old_csv, old_v = sys.argv[1:7]
    host, port = base.removeprefix("http://").split(":")
    df = pd.read_csv(rows_csv)
    latest = pd.read_csv(latest_csv)
    old = pd.read_csv(old_csv)
    for scored in (latest, old):
        assert (scored["case_id"].to_numpy() == df["case_id"].to_numpy()).all()
    lp, lc = latest["probability"].to_numpy(), latest["long_stay"].to_numpy()
    op, oc = old["probability"].to_numpy(), old["long_stay"].to_numpy()
    mlflow_calls(base, host, port, df, lp, lc)
    triton_calls(host, port, df, (int(latest_v), lp, lc), (int(old_v), op, oc))
    prometheus_calls(base)


if __name__ == "__main__":
    try:
        main()
    except Exception as e:
        import traceback

        traceback.print_exc()
        print(f"FAILED: {e}", file=sys.stderr)
        sys.exit(1)
