"""The unmodified MLflow client (mlflow-skinny) against `staytrack tracking`.

Usage: mlflow_tracking.py BASE_URL OUT_JSON

Each section prints `ok <what>` when its checks pass; a failed check raises, so the script exits
non-zero. What the Rust test checks through the CLI afterwards is written to OUT_JSON.
"""

import json
import os
import sys
import tempfile

import mlflow
import pandas as pd
import requests
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException
from mlflow.protos.service_pb2 import LogBatch
from mlflow.store.tracking.rest_store import RestStore

base, out_path = sys.argv[1], sys.argv[2]
mlflow.set_tracking_uri(base)
client = MlflowClient()
out = {}


def expect_error(code, fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except MlflowException as e:
        assert e.error_code == code, (e.error_code, code, str(e))
        return str(e)
    raise AssertionError(f"expected {code}")


# Experiments: create through set_experiment, get by name and id, a duplicate refused.
exp = mlflow.set_experiment("readmission-sklearn")
assert exp.artifact_location.startswith("mlflow-artifacts:/"), exp.artifact_location
assert client.get_experiment(exp.experiment_id).name == "readmission-sklearn"
assert client.get_experiment_by_name("no-such-experiment") is None
expect_error("RESOURCE_ALREADY_EXISTS", client.create_experiment, "readmission-sklearn")
names = [e.name for e in client.search_experiments(filter_string="name LIKE 'readmission%'")]
assert names == ["readmission-sklearn"], names
print("ok experiments")

# A parent run and a nested child: params, metrics with steps, tags, artifacts, a dataset.
with tempfile.TemporaryDirectory() as tmp:
    with mlflow.start_run(run_name="sk-forest") as parent:
        mlflow.log_params({"n_estimators": "200", "max_depth": "8"})
        for step in range(5):
            mlflow.log_metric("roc_auc", 0.70 + step * 0.02, step=step)
            mlflow.log_metric("train_loss", 1.0 / (step + 1), step=step)
        mlflow.log_metric("accuracy", 0.81)
        mlflow.set_tag("team", "ml-platform")
        mlflow.set_tag("to-delete", "x")
        client.delete_tag(parent.info.run_id, "to-delete")
        path = os.path.join(tmp, "features.txt")
        with open(path, "w") as f:
            f.write("age\nward\n")
        mlflow.log_artifact(path)
        mlflow.log_artifact(path, artifact_path="inputs")
        mlflow.log_dict({"threshold": 0.5, "classes": [0, 1]}, "config/model.json")
        mlflow.log_text("trained on the synthetic twin", "notes/readme.txt")
        df = pd.DataFrame({"age": [30, 40, 50], "ward": ["a", "b", "a"], "long_stay": [0, 1, 1]})
        ds = mlflow.data.from_pandas(df, source="s3://bucket/train.csv", name="train-2026", targets="long_stay")
        mlflow.log_input(ds, context="training")
        with mlflow.start_run(run_name="sk-forest-fold1", nested=True) as child:
            mlflow.log_metrics({"roc_auc": 0.74, "f1": 0.61})
pid, cid = parent.info.run_id, child.info.run_id
run = client.get_run(pid)
assert run.info.status == "FINISHED", run.info.status
assert run.info.run_name == "sk-forest"
assert run.data.params == {"n_estimators": "200", "max_depth": "8"}, run.data.params
assert abs(run.data.metrics["roc_auc"] - 0.78) < 1e-9, run.data.metrics
assert run.data.tags["team"] == "ml-platform" and "to-delete" not in run.data.tags
history = client.get_metric_history(pid, "roc_auc")
assert [m.step for m in history] == [0, 1, 2, 3, 4], history
assert abs(history[2].value - 0.74) < 1e-9
inputs = run.inputs.dataset_inputs
assert len(inputs) == 1 and inputs[0].dataset.name == "train-2026", inputs
assert inputs[0].dataset.source_type == "s3"
assert any(t.key == "mlflow.data.context" and t.value == "training" for t in inputs[0].tags)
child_run = client.get_run(cid)
assert child_run.data.tags.get("mlflow.parentRunId") == pid, child_run.data.tags
top = sorted(f.path for f in client.list_artifacts(pid))
assert top == ["config", "features.txt", "inputs", "notes"], top
assert [f.path for f in client.list_artifacts(pid, "config")] == ["config/model.json"]
assert mlflow.artifacts.load_dict(f"{run.info.artifact_uri}/config/model.json") == {"threshold": 0.5, "classes": [0, 1]}
assert mlflow.artifacts.load_text(f"{run.info.artifact_uri}/notes/readme.txt") == "trained on the synthetic twin"
with tempfile.TemporaryDirectory() as tmp:
    local = client.download_artifacts(pid, "inputs/features.txt", tmp)
    assert open(local).read() == "age\nward\n"
out.update(parent=pid, child=cid, experiment=exp.experiment_id)
print("ok runs, params, metrics, tags, artifacts, inputs")

# Update, delete and restore.
client.set_terminated(cid, status="FINISHED")
client.delete_run(cid)
assert client.get_run(cid).info.lifecycle_stage == "deleted"
ids = {r.info.run_id for r in client.search_runs([exp.experiment_id])}
assert cid not in ids and pid in ids, ids
client.restore_run(cid)
assert client.get_run(cid).info.lifecycle_stage == "active"
client.update_run(cid, name="fold-1")
assert client.get_run(cid).info.run_name == "fold-1"
print("ok update, delete, restore")

# Search: filters over metrics, params, tags and attributes, with ordering.
grid = mlflow.set_experiment("grid")
for i in range(6):
    with mlflow.start_run(run_name=f"g{i}"):
        mlflow.log_param("parity", "even" if i % 2 == 0 else "odd")
        mlflow.log_metric("roc_auc", 0.5 + i / 20)
        mlflow.set_tag("owner", "alice" if i < 3 else "bob")
found = client.search_runs(
    [grid.experiment_id],
    filter_string="metrics.roc_auc > 0.55 and params.parity = 'even' and attributes.status = 'FINISHED'",
    order_by=["metrics.roc_auc DESC"],
)
assert [r.info.run_name for r in found] == ["g4", "g2"], [r.info.run_name for r in found]
found = client.search_runs([grid.experiment_id], filter_string="tags.owner LIKE 'b%'", order_by=["params.parity ASC", "metrics.roc_auc ASC"])
assert [r.info.run_name for r in found] == ["g4", "g3", "g5"], [r.info.run_name for r in found]
found = client.search_runs([grid.experiment_id], filter_string="params.parity IN ('odd') and tags.owner != 'alice'")
assert sorted(r.info.run_name for r in found) == ["g3", "g5"]
df = mlflow.search_runs([grid.experiment_id], order_by=["metrics.roc_auc ASC"])
assert list(df["tags.mlflow.runName"]) == [f"g{i}" for i in range(6)], list(df["tags.mlflow.runName"])
expect_error("INVALID_PARAMETER_VALUE", client.search_runs, [grid.experiment_id], filter_string="metrics.roc_auc >> 1")
expect_error("INVALID_PARAMETER_VALUE", client.search_runs, [grid.experiment_id], filter_string="params.a = 'x' OR params.b = 'y'")
print("ok search with filters and ordering")

# Paging past 1,000 runs, made fast with log-batch.
bulk = client.create_experiment("bulk")
for i in range(1050):
    r = client.create_run(bulk, run_name=f"b{i:04d}")
    client.log_batch(r.info.run_id, metrics=[Metric("score", i, 0, 0)], params=[Param("i", str(i))], tags=[RunTag("bulk", "yes")])
    client.set_terminated(r.info.run_id)
first = client.search_runs([bulk], max_results=1000, order_by=["metrics.score DESC"])
assert len(first) == 1000 and first.token, (len(first), first.token)
second = client.search_runs([bulk], max_results=1000, order_by=["metrics.score DESC"], page_token=first.token)
assert len(second) == 50 and not second.token, (len(second), second.token)
scores = [r.data.metrics["score"] for r in list(first) + list(second)]
assert scores == [float(i) for i in range(1049, -1, -1)]
assert len(mlflow.search_runs([bulk])) == 1050
expect_error("INVALID_PARAMETER_VALUE", client.search_runs, [bulk], page_token="forged.0000")
print("ok paging past 1,000 runs")

# The registry: a model, a version of the parent run, an alias.
client.create_registered_model("readmission")
expect_error("RESOURCE_ALREADY_EXISTS", client.create_registered_model, "readmission")
mv = client.create_model_version("readmission", source=f"{run.info.artifact_uri}/model", run_id=pid)
assert mv.version == "1" and mv.status == "READY", mv
client.set_registered_model_alias("readmission", "champion", "1")
assert client.get_model_version_by_alias("readmission", "champion").run_id == pid
assert client.get_registered_model("readmission").aliases == {"champion": "1"}
why = expect_error("INVALID_PARAMETER_VALUE", client.set_registered_model_alias, "readmission", "production", "1")
assert "bundle" in why, why
client.set_registered_model_alias("readmission", "challenger", "1")
client.delete_registered_model_alias("readmission", "challenger")
expect_error("RESOURCE_DOES_NOT_EXIST", client.get_model_version_by_alias, "readmission", "challenger")
assert [m.name for m in client.search_registered_models("name LIKE 'readm%'")] == ["readmission"]
assert [v.version for v in client.search_model_versions("name = 'readmission'")] == ["1"]
print("ok registry")

# Error paths raise the client's own exception types.
expect_error("RESOURCE_DOES_NOT_EXIST", client.get_run, "0190aaaa-0000-7000-8000-000000000000")
expect_error("RESOURCE_DOES_NOT_EXIST", client.get_experiment, "987654")
store = RestStore(lambda: mlflow.utils.rest_utils.MlflowHostCreds(base))
too_many = {"run_id": pid, "metrics": [{"key": f"m{i}", "value": 1.0, "timestamp": 0, "step": 0} for i in range(1001)]}
why = expect_error("INVALID_PARAMETER_VALUE", store._call_endpoint, LogBatch, json.dumps(too_many))
assert "1001" in why and "1000" in why, why
too_long = {"run_id": pid, "params": [{"key": "k" * 251, "value": "v"}]}
expect_error("INVALID_PARAMETER_VALUE", store._call_endpoint, LogBatch, json.dumps(too_long))
big_value = {"run_id": pid, "params": [{"key": "big", "value": "v" * 6001}]}
expect_error("INVALID_PARAMETER_VALUE", store._call_endpoint, LogBatch, json.dumps(big_value))
expect_error("INVALID_PARAMETER_VALUE", client.log_param, pid, "max_depth", "9")
r = requests.post(f"{base}/api/2.0/mlflow/runs/log-batch", data="{not json", timeout=10)
assert r.status_code == 400 and r.json()["error_code"] == "INVALID_PARAMETER_VALUE", r.text
r = requests.post(f"{base}/api/2.0/mlflow/logged-models", json={}, timeout=10)
assert r.status_code == 404 and r.json()["error_code"] == "ENDPOINT_NOT_FOUND", r.text
print("ok error paths")

with open(out_path, "w") as f:
    json.dump(out, f)
