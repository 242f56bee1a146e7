"""Writes N captured predictions as capture segments of the exact shape `staytrack serve` ships,
for bench/capture.sh: `<prefix>/captures/predictions/model=<m>/dt=YYYY-MM-DD/hour=HH/<replica>-<seq>.parquet`
under OUT, round-robin over the replicas and over the 24 hours of yesterday (UTC), so every row
falls in one `monitor --window 1d` window (the worst case for its memory; --days D spreads them
over the D days before today); each row's ts is inside its key's hour, spread evenly over it.

The schema (columns, types, required/optional, the `staytrack.*` key-value metadata) is copied
from a real segment the server wrote (--template); the model's name, alias, version and run come
from its first row. The inputs are real synthetic records (--source, the workspace's CSV) with
the probabilities `staytrack score` gave them (--scored), so the columns compress like real
traffic; prediction ids are unique, UUIDv7-shaped (time first, as the server makes them) and
case ids unique (one admission per prediction).

Usage (the clients' python, which has pyarrow):
  capture_gen.py --template SEG --source CSV --scored CSV --rows N --prefix P --out DIR
"""
import argparse
import json
import os
import random
import re
import sys
import time

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

FIXED = ["prediction_id", "client_request_id", "ts", "model_name", "model_alias",
         "model_version", "run_id", "probability", "class", "threshold", "replica",
         "schema_version", "source", "quality"]


def input_name(name):
    """The server's segment column name of a spec column (capture::segment::input_name)."""
    clean = "".join(c.lower() if c.isascii() and c.isalnum() else "_" for c in name)
    return "input_" + clean if not clean or clean in FIXED else clean


def whole(x):
    return x.combine_chunks() if isinstance(x, pa.ChunkedArray) else x


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--template", required=True)
    ap.add_argument("--source", required=True)
    ap.add_argument("--scored", required=True)
    ap.add_argument("--rows", type=int, required=True)
    ap.add_argument("--per-segment", type=int, default=100_000)
    ap.add_argument("--replicas", default="gen-a,gen-b,gen-c")
    ap.add_argument("--prefix", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--days", type=int, default=1, help="spread the rows over this many days")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    replicas = a.replicas.split(",")

    tf = pq.ParquetFile(a.template)
    schema = tf.schema_arrow
    meta = schema.metadata or {}
    assert meta.get(b"staytrack.kind") == b"predictions", meta
    assert meta.get(b"staytrack.schema_version") == b"1", meta
    assert schema.names[:len(FIXED)] == FIXED, schema.names
    first = tf.read_row_group(0).slice(0, 1).to_pylist()[0]
    model = first["model_name"]
    inputs = schema.names[len(FIXED):]

    # The records, typed as the template types their columns.
    header = open(a.source, newline="").readline().rstrip("\r\n").split(",")
    by_name = {input_name(c): c for c in header}
    missing = [n for n in inputs if n not in by_name]
    assert not missing, f"{a.source} lacks {missing}"
    types = {by_name[n]: schema.field(n).type for n in inputs}
    src = pacsv.read_csv(a.source, convert_options=pacsv.ConvertOptions(
        column_types=types, include_columns=[by_name[n] for n in inputs],
        strings_can_be_null=True))
    scored = pacsv.read_csv(a.scored)
    assert scored.num_rows == src.num_rows, (scored.num_rows, src.num_rows)
    id_col = by_name.get("case_id")
    if id_col:
        assert src.column(id_col).equals(scored.column("case_id").cast(pa.int64())), \
            "the scored file is not in the source's order"
    pool = src.num_rows
    # The server's data-quality note for a record with empty inputs.
    quality = [None] * pool
    cols = {c: src.column(c).to_pylist() for c in header if c in types}
    for i in range(pool):
        gaps = [c for c in header if c in types and cols[c][i] is None]
        if gaps:
            quality[i] = json.dumps([{"column": c, "kind": "missing"} for c in gaps],
                                    separators=(",", ":"))
    quality = pa.array(quality, pa.string())
    prob = scored.column("probability").cast(pa.float64())
    klass = scored.column("long_stay").cast(pa.int64())

    hour_ms = 3_600_000
    # Yesterday (UTC), all of it in the past and in one `monitor --window 1d` window.
    day = (int(time.time() * 1000) // 86_400_000 - a.days) * 86_400_000
    nseg = -(-a.rows // a.per_segment)
    assert nseg <= 4096, "prediction ids are unique for up to 4096 segments"
    nseq_per_replica = -(-nseg // len(replicas))
    t0 = time.time()
    total_bytes = 0
    for k in range(nseg):
        n = min(a.per_segment, a.rows - k * a.per_segment)
        rep = replicas[k % len(replicas)]
        seq = k // len(replicas)
        start = day + (seq * 24 * a.days // nseq_per_replica) * hour_ms
        idx = pa.array([(k * a.per_segment + i) % pool for i in range(n)], pa.int64())
        at = [start + (i * hour_ms) // n for i in range(n)]
        # UUIDv7-shaped like the server's: the time first, then (segment, row) for uniqueness.
        ids = [f"{t >> 16:08x}-{t & 0xFFFF:04x}-7{k & 0xFFF:03x}-{i & 0xFFFF:04x}-"
               f"{i >> 16:02x}{rng.getrandbits(40):010x}" for i, t in zip(range(n), at)]
        ts = pa.array(at, pa.int64())
        arrays = {
            "prediction_id": pa.array(ids, pa.string()),
            "client_request_id": pa.nulls(n, pa.string()),
            "ts": ts.cast(schema.field("ts").type),
            "model_name": pa.array([model] * n, pa.string()),
            "model_alias": pa.array([first["model_alias"]] * n, pa.string()),
            "model_version": pa.array([first["model_version"]] * n, pa.int64()),
            "run_id": pa.array([first["run_id"]] * n, pa.string()),
            "probability": prob.take(idx),
            "class": klass.take(idx),
            "threshold": pa.array([first["threshold"]] * n, pa.float64()),
            "replica": pa.array([rep] * n, pa.string()),
            "schema_version": pa.array([1] * n, pa.int32()),
            "source": pa.array([first["source"]] * n, pa.string()),
            "quality": quality.take(idx),
        }
        for name in inputs:
            arrays[name] = src.column(by_name[name]).take(idx)
        if "case_id" in arrays:
            # One admission per prediction.
            arrays["case_id"] = pa.array(range(k * a.per_segment + 1, k * a.per_segment + n + 1),
                                         pa.int64())
        table = pa.Table.from_arrays([whole(arrays[f.name]).cast(f.type) for f in schema],
                                     schema=schema)
        t = time.strftime("%Y-%m-%d/hour=%H", time.gmtime(start / 1000))
        key = f"{a.prefix}/captures/predictions/model={model}/dt={t}/{rep}-{seq:06d}.parquet"
        assert re.fullmatch(r"[A-Za-z0-9._/=-]+", key), key
        path = os.path.join(a.out, key)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        pq.write_table(table, path, compression="zstd", row_group_size=n)
        total_bytes += os.path.getsize(path)
    print(json.dumps({"segments": nseg, "rows": a.rows, "bytes": total_bytes,
                      "replicas": replicas[:min(nseg, len(replicas))], "model": model,
                      "seconds": round(time.time() - t0, 1)}))


if __name__ == "__main__":
    sys.exit(main())
