"""Time the real clients against a running `staytrack serve`: the same rows sent as MLflow
`dataframe_split`, as CSV, and as OIP v2 tensors in JSON and in the binary extension.

Usage: bench/clients.py BASE_URL ROWS_CSV [CALLS]  (run with the clients' virtualenv's Python;
`make bench-clients` does it all). Prints, per format, the request size, the median and p90 time
of a call from the client's first byte to its decoded answer, rows per second, and the server's
own mean time per request from its /metrics histogram (the rest is the client's encoding and
decoding).
"""

import pathlib
import statistics
import sys
import time

import pandas as pd
import requests
import tritonclient.http as triton
from prometheus_client.parser import text_string_to_metric_families
from mlflow.pyfunc.scoring_server.client import ScoringServerClient
from mlflow.utils.proto_json_utils import dump_input_data

# The tests' tensor builder, so the benchmark sends exactly what the tests check.
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "tests" / "clients"))
from clients import triton_inputs  # noqa: E402


def timed(call, calls):
    call()  # warm
    times = []
    for _ in range(calls):
        t = time.perf_counter()
        call()
        times.append(time.perf_counter() - t)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.9) - 1]


def server_time(base, route):
    """The server's own (sum, count) of request seconds on a route, from /metrics."""
    text = requests.get(base + "/metrics", timeout=10).text
    for family in text_string_to_metric_families(text):
        if family.name == "staytrack_http_request_duration_seconds":
            got = {
                s.name.rsplit("_", 1)[1]: s.value
                for s in family.samples
                if s.labels.get("route") == route and s.name.endswith(("_sum", "_count"))
            }
            return got.get("sum", 0.0), got.get("count", 0.0)
    return 0.0, 0.0


def main():
    base, rows_csv = sys.argv[1:3]
    calls = int(sys.argv[3]) if len(sys.argv) > 3 else 50
    host, port = base.removeprefix("http://").split(":")
    df = pd.read_csv(rows_csv)
    n = len(df)
    mlflow = ScoringServerClient(host, port)
    mlflow.wait_server_ready(timeout=30)
    tc = triton.InferenceServerClient(url=f"{host}:{port}")
    meta = tc.get_model_metadata("staytrack")

    def tensors(binary):
        return triton_inputs(meta, df, binary)

    def body_size(inputs, outputs):
        body, _ = triton.InferenceServerClient.generate_request_body(inputs, outputs)
        return len(body)

    csv = df.to_csv(index=False)
    json_outputs = [triton.InferRequestedOutput(o, binary_data=False) for o in ["probability", "class"]]
    rows = [
        ("MLflow invoke(DataFrame)", "/invocations", len(dump_input_data(df)), lambda: mlflow.invoke(df)),
        (
            "MLflow text/csv",
            "/invocations",
            len(csv),
            lambda: requests.post(base + "/invocations", data=csv, headers={"Content-Type": "text/csv"}).json(),
        ),
        (
            "OIP v2 JSON (tritonclient)",
            "/v2/models/{name}/infer",
            body_size(tensors(False), json_outputs),
            lambda: tc.infer("staytrack", tensors(False), outputs=json_outputs).as_numpy("probability"),
        ),
        (
            "OIP v2 binary (tritonclient)",
            "/v2/models/{name}/infer",
            body_size(tensors(True), None),
            lambda: tc.infer("staytrack", tensors(True)).as_numpy("probability"),
        ),
    ]
    print(f"{n} rows a call, {calls} calls each")
    print(
        f"{'format':<30} {'request KB':>10} {'median ms':>10} {'p90 ms':>8} {'rows/s':>10} {'server ms':>10}"
    )
    for name, route, size, call in rows:
        s0, c0 = server_time(base, route)
        med, p90 = timed(call, calls)
        s1, c1 = server_time(base, route)
        server = (s1 - s0) / max(c1 - c0, 1)
        print(
            f"{name:<30} {size / 1024:>10.0f} {med * 1e3:>10.1f} {p90 * 1e3:>8.1f} {n / med:>10,.0f} {server * 1e3:>10.1f}"
        )


if __name__ == "__main__":
    main()
