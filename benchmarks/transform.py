"""Batch transform benchmark: rows/s of an XGBoost transform job through tule vs
`booster.inplace_predict` on the same rows in process.

Data: N x 28 float32 rows (default N = 200,000), written as CSV over several files (default 8).
Model: XGBoost, 100 rounds, depth 6, `hist`, trained in process on those rows with a synthetic
binary label, packed as model.tar.gz and registered with CreateModel (the built-in image).

* transform: CreateTransformJob on the in-process server (`tule.testing.TuleServer`),
  S3Prefix over the files, text/csv, SplitType Line, BatchStrategy MultiRecord,
  MaxPayloadInMB 6, Accept text/csv, AssembleWith Line, `--instances` instances; timed from
  the Create call to the job's end (DescribeTransformJob polled every 50 ms). The time between
  TransformStartTime and TransformEndTime (the instances up, the objects transformed) is
  printed too: the steady-state rate, without the model servers' start.
* in process: `booster.inplace_predict(x)` on the same float32 array, all cores (the target's
  baseline); and, like for like, from the same CSV bytes: `pyarrow.csv.read_csv` of each file
  (all cores), `inplace_predict`, and the predictions written as CSV lines (`%.9g`).

A warm-up job runs first (untimed), so the fork server that starts model servers is up, as on
a server that has been running. Jobs and in-process predictions alternate; medians of
`--runs`; the job's `.out` objects are checked against the in-process predictions (rtol 1e-6)
once.

Where the time goes, measured in this process on the same rows (libraries at their default
threads): the model server's work for the job's requests (the CSV decode, the prediction and
the CSV encode that `/invocations` runs), and the transform client alone (`transform_object`
over every object with a model that answers at once: split, batch, assemble).

    python benchmarks/transform.py [--rows 200000] [--files 8] [--runs 3] [--instances 1]
"""

from __future__ import annotations

import argparse
import io
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from tule.testing import TuleServer
from tule.testing.hosting import XGBOOST_IMAGE, create_model, tar_gz, upload_model

FEATURES = 28
ROUNDS = 100
PARAMS = {"objective": "binary:logistic", "max_depth": 6, "eta": 0.1, "tree_method": "hist"}
BUCKET = "bench-transform"


def make_data(rows: int, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """A HIGGS-shaped binary problem: 28 float32 features, a label from a noisy rule."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, FEATURES), dtype=np.float32)
    logit = x[:, 0] * x[:, 1] + np.sin(x[:, 2]) + 0.5 * x[:, 3] - 0.3 * x[:, 4] ** 2
    y = (logit + rng.standard_normal(rows, dtype=np.float32) > 0).astype(np.float32)
    return x, y


def csv_bytes(x: np.ndarray) -> bytes:
    """Rows as CSV with each float32 written so that it reads back exactly (`%.9g`)."""
    out = io.StringIO()
    np.savetxt(out, x, delimiter=",", fmt="%.9g")
    return out.getvalue().encode()


def model_archive(x: np.ndarray, y: np.ndarray) -> tuple[object, bytes]:
    import xgboost

    booster = xgboost.train(PARAMS, xgboost.DMatrix(x, label=y), ROUNDS)
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "xgboost-model.ubj"
        booster.save_model(str(path))
        return booster, tar_gz({"xgboost-model": path.read_bytes()})


def run_job(sm, name: str, model: str, instances: int) -> tuple[float, float, float]:
    """(seconds from Create to the end, seconds of TransformStart..End, CPU seconds of this
    process meanwhile: the gateway, S3 and the transform's own work, not the model servers)."""
    start, cpu = time.perf_counter(), time.process_time()
    sm.create_transform_job(
        TransformJobName=name,
        ModelName=model,
        BatchStrategy="MultiRecord",
        MaxPayloadInMB=6,
        TransformInput={
            "DataSource": {
                "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/input/"}
            },
            "ContentType": "text/csv",
            "SplitType": "Line",
        },
        TransformOutput={
            "S3OutputPath": f"s3://{BUCKET}/output/{name}",
            "Accept": "text/csv",
            "AssembleWith": "Line",
        },
        TransformResources={"InstanceType": "ml.m5.4xlarge", "InstanceCount": instances},
    )
    while True:
        job = sm.describe_transform_job(TransformJobName=name)
        if job["TransformJobStatus"] in ("Completed", "Failed", "Stopped"):
            break
        time.sleep(0.05)
    elapsed, used = time.perf_counter() - start, time.process_time() - cpu
    if job["TransformJobStatus"] != "Completed":
        raise RuntimeError(f"{name}: {job['TransformJobStatus']}: {job.get('FailureReason')}")
    steady = (job["TransformEndTime"] - job["TransformStartTime"]).total_seconds()
    return elapsed, steady, used


def predict_in_process(booster, x: np.ndarray) -> float:
    start = time.perf_counter()
    booster.inplace_predict(x)
    return time.perf_counter() - start


def check_outputs(s3, name: str, parts: list[np.ndarray], booster) -> None:
    for index, part in enumerate(parts):
        key = f"output/{name}/part-{index:03d}.csv.out"
        body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        got = np.loadtxt(io.BytesIO(body), dtype=np.float64)
        np.testing.assert_allclose(got, booster.inplace_predict(part), rtol=1e-6)


def predict_from_csv(booster, bodies: list[bytes]) -> float:
    """The job's work done in process: parse each file, predict, write the lines."""
    import pyarrow.csv as pacsv

    options = pacsv.ReadOptions(autogenerate_column_names=True)
    start = time.perf_counter()
    for body in bodies:
        table = pacsv.read_csv(io.BytesIO(body), read_options=options)
        features = np.column_stack([c.to_numpy() for c in table.columns]).astype(np.float32)
        predictions = booster.inplace_predict(features)
        "\n".join(f"{v:.9g}" for v in predictions.tolist()).encode()
    return time.perf_counter() - start


def server_phases(archive: bytes, parts: list[bytes]) -> dict[str, float]:
    """Seconds the model server's three steps take over every request of the job (6 MB
    MultiRecord payloads), run here through the same functions `/invocations` calls."""
    import tarfile

    from tule.algorithms.container import instantiate
    from tule.algorithms.formats import decode_request
    from tule.algorithms.inference import encode_outputs
    from tule.services.sagemaker.transform_batches import TransformSettings, plan_batches
    from tule.services.sagemaker.transform_records import split_records

    algorithm = instantiate(XGBOOST_IMAGE)
    with tempfile.TemporaryDirectory() as scratch:
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(scratch, filter="data")
        model = algorithm.model_class.load(Path(scratch))
    limit = TransformSettings(max_payload_bytes=6 << 20).max_payload_bytes
    totals = {"decode": 0.0, "predict": 0.0, "encode": 0.0}
    for data in parts:
        records = split_records(data, "Line")
        for start, end in plan_batches(records, "MultiRecord", limit):
            payload = b"\n".join(records.units[start:end])
            began = time.perf_counter()
            dataset = decode_request(payload, "text/csv", feature_dim=FEATURES)
            decoded = time.perf_counter()
            outputs = model.predict(dataset.features)
            predicted = time.perf_counter()
            encode_outputs(algorithm, outputs, "text/csv")
            totals["decode"] += decoded - began
            totals["predict"] += predicted - decoded
            totals["encode"] += time.perf_counter() - predicted
    return totals


def client_alone(parts: list[bytes], rows: int) -> float:
    """Seconds `transform_object` takes over every object when the model answers at once."""
    from tule.services.sagemaker.transform_batches import TransformSettings, transform_object

    settings = TransformSettings(
        content_type="text/csv",
        accept="text/csv",
        split_type="Line",
        batch_strategy="MultiRecord",
        assemble_with="Line",
    )
    answer = b"0.5\n" * (rows // len(parts))
    start = time.perf_counter()
    for index, data in enumerate(parts):
        transform_object(data, settings, lambda _: answer, object_name=str(index))
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--instances", type=int, default=1)
    args = parser.parse_args()

    x, y = make_data(args.rows)
    booster, archive = model_archive(x, y)
    parts = np.array_split(x, args.files)
    bodies = [csv_bytes(part) for part in parts]
    size = sum(len(body) for body in bodies)
    with tempfile.TemporaryDirectory() as data_dir, TuleServer(Path(data_dir), fsync=False) as srv:
        s3, sm = srv.client("s3"), srv.client("sagemaker")
        s3.create_bucket(Bucket=BUCKET)
        for index, body in enumerate(bodies):
            s3.put_object(Bucket=BUCKET, Key=f"input/part-{index:03d}.csv", Body=body)
        create_model(sm, "bench-xgb", upload_model(s3, BUCKET, "model/model.tar.gz", archive))
        print(
            f"data: {args.rows:,} x {FEATURES} in {args.files} CSV files, {size / 2**20:.0f} MiB;"
            f" XGBoost {ROUNDS} rounds, depth 6; {args.instances} instance(s)"
        )

        run_job(sm, "warm-up", "bench-xgb", args.instances)
        predict_in_process(booster, x[:1000])  # the first call sets the predictor up
        # Alternating, so that both sides see the same machine (the server idles between jobs).
        jobs, timings, from_csv = [], [], []
        for i in range(args.runs):
            jobs.append(run_job(sm, f"run-{i}", "bench-xgb", args.instances))
            timings.append(predict_in_process(booster, x))
            from_csv.append(predict_from_csv(booster, bodies))
        check_outputs(s3, "run-0", parts, booster)
    whole, steady, cpu = (statistics.median(j[k] for j in jobs) for k in range(3))
    local, csv_local = statistics.median(timings), statistics.median(from_csv)

    rate, csv_rate = args.rows / local, args.rows / csv_local
    print(f"in-process inplace_predict: {local:.3f} s, {rate:,.0f} rows/s")
    print(f"in-process from CSV (parse, predict, write): {csv_local:.3f} s, {csv_rate:,.0f} rows/s")
    for label, seconds in (("transform, Create to end", whole), ("transform, steady", steady)):
        print(
            f"{label}: {seconds:.3f} s, {args.rows / seconds:,.0f} rows/s, "
            f"{(args.rows / seconds) / rate:.2f}x inplace_predict, "
            f"{(args.rows / seconds) / csv_rate:.2f}x from CSV"
        )
    print(f"CPU of the tule process per job (gateway, S3, transform client): {cpu:.2f} s")
    phases = server_phases(archive, bodies)
    print(
        "model server steps over the job's requests, in process: "
        + ", ".join(f"{k} {v:.3f} s" for k, v in phases.items())
    )
    alone = client_alone(bodies, args.rows)
    print(f"transform client alone (split, batch, assemble): {alone:.3f} s")


if __name__ == "__main__":
    main()
