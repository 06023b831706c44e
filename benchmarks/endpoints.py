"""InvokeEndpoint latency and throughput against the model itself and a bare web app.

One run starts `tule serve` (a subprocess), deploys a small XGBoost model (10 trees, 4
features) behind an endpoint, and measures, against baselines taken in the same run:

* latency, serial: the model's own answer in process (`tule.algorithms.inference.invoke`), a
  POST straight to the same model server program started on its own (what SageMaker calls
  ModelLatency), a POST to tule's
  runtime path `/endpoints/<name>/invocations`, and boto3's `invoke_endpoint`; the added p50
  is runtime path minus model server;
* throughput with wrk (Debian's `wrk`; `make bench-endpoints` installs it when it can) at 50
  connections for 10 s after a 3 s warm-up: tule's runtime path against a bare uvicorn +
  Starlette app answering a JSON POST (benchmarks/bare_app.py).

Targets (issue Hosting): added p50 <= 0.5 ms; throughput >= 0.5x the bare app. The model
server's own throughput is measured too: the runtime path cannot exceed it, so the ratio to it
shows what the gateway costs under load.
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import Server, client, free_port, tule_server
from tule.algorithms.container import instantiate
from tule.algorithms.inference import invoke
from tule.testing import hosting

SERIAL_CALLS = 2000
WARMUP_CALLS = 200
RUNS = 3


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return ordered[len(ordered) // 2], ordered[int(len(ordered) * 0.99)]


def serial_http(port: int, path: str, body: bytes, content_type: str) -> tuple[float, float]:
    conn = http.client.HTTPConnection("127.0.0.1", port)
    samples = []
    for i in range(WARMUP_CALLS + SERIAL_CALLS):
        start = time.perf_counter()
        conn.request("POST", path, body=body, headers={"Content-Type": content_type})
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"{path}: HTTP {response.status}")
        if i >= WARMUP_CALLS:
            samples.append(time.perf_counter() - start)
    conn.close()
    return percentiles(samples)


def serial_boto3(url: str, endpoint: str, body: bytes) -> tuple[float, float]:
    runtime = client("sagemaker-runtime", url)
    samples = []
    for i in range(WARMUP_CALLS + SERIAL_CALLS):
        start = time.perf_counter()
        runtime.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Body=body)[
            "Body"
        ].read()
        if i >= WARMUP_CALLS:
            samples.append(time.perf_counter() - start)
    return percentiles(samples)


def in_process(model_dir: Path, body: bytes) -> tuple[float, float]:
    algorithm = instantiate("xgboost")
    model = algorithm.model_class.load(model_dir)
    samples = []
    for i in range(WARMUP_CALLS + SERIAL_CALLS):
        start = time.perf_counter()
        invoke(model, algorithm, body, "text/csv", None)
        if i >= WARMUP_CALLS:
            samples.append(time.perf_counter() - start)
    return percentiles(samples)


def wrk(url: str, body: bytes, content_type: str) -> float:
    """Requests per second at 50 connections (after a 3 s warm-up)."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        escaped = body.decode().replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        script.write(
            f'wrk.method = "POST"\nwrk.body = "{escaped}"\n'
            f'wrk.headers["Content-Type"] = "{content_type}"\n'
        )
    try:
        subprocess.run(
            ["wrk", "-t1", "-c50", "-d3s", "-s", script.name, url],
            check=True,
            capture_output=True,
        )
        out = subprocess.run(
            ["wrk", "-t1", "-c50", "-d10s", "-s", script.name, url],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    finally:
        os.unlink(script.name)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise RuntimeError(f"{url}: {errors.group(1)} failed responses under load")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


def bare_app() -> Server:
    port = free_port()
    argv = [sys.executable, "-m", "uvicorn", "bare_app:app", "--port", str(port)]
    argv += ["--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning"]
    argv += ["--app-dir", str(Path(__file__).parent)]
    return Server(argv, port, "/")


def main() -> None:
    booster, archive, x = hosting.xgboost_model(rows=500, features=4, rounds=10)
    body = hosting.csv_body(x[:1])
    json_body = b'{"instances": [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]]}'
    model_dir = Path(tempfile.mkdtemp(prefix="bench-model-"))
    booster.save_model(str(model_dir / "xgboost-model"))
    have_wrk = shutil.which("wrk") is not None
    rows: dict[str, list[float]] = {}

    def keep(name: str, value: float) -> None:
        rows.setdefault(name, []).append(value)

    with (
        tempfile.TemporaryDirectory(prefix="bench-endpoints-") as data,
        tule_server(Path(data), fsync=False) as tule,
    ):
        sm, s3 = client("sagemaker", tule.url), client("s3", tule.url)
        s3.create_bucket(Bucket="bench")
        uri = hosting.upload_model(s3, "bench", "model.tar.gz", archive)
        hosting.create_model(sm, "bench-model", uri)
        described = hosting.deploy(sm, "bench", [hosting.variant("AllTraffic", "bench-model")])
        assert described and described["EndpointStatus"] == "InService", described
        for _ in range(RUNS):
            p50, p99 = in_process(model_dir, body)
            keep("model in process p50", p50)
            with model_server(model_dir) as alone:
                p50, p99 = serial_http(alone.port, "/invocations", body, "text/csv")
                if have_wrk:
                    keep("model server req/s", wrk(f"{alone.url}/invocations", body, "text/csv"))
            keep("model server p50", p50)
            keep("model server p99", p99)
            p50, p99 = serial_http(tule.port, "/endpoints/bench/invocations", body, "text/csv")
            keep("runtime path p50", p50)
            keep("runtime path p99", p99)
            p50, p99 = serial_boto3(tule.url, "bench", body)
            keep("boto3 p50", p50)
            keep("boto3 p99", p99)
            if have_wrk:
                keep(
                    "runtime path req/s",
                    wrk(f"{tule.url}/endpoints/bench/invocations", body, "text/csv"),
                )
    if have_wrk:
        with bare_app() as bare:
            for _ in range(RUNS):
                keep(
                    "bare app req/s", wrk(f"{bare.url}/invocations", json_body, "application/json")
                )
    medians = {name: statistics.median(values) for name, values in rows.items()}
    for name, value in medians.items():
        shown = f"{value:,.0f}" if name.endswith("req/s") else f"{value * 1e3:.3f} ms"
        print(f"{name:28s} {shown}   (runs: {len(rows[name])})")
    added = medians["runtime path p50"] - medians["model server p50"]
    print(f"added p50 over the model server: {added * 1e3:.3f} ms (target <= 0.5 ms)")
    if have_wrk:
        ratio = medians["runtime path req/s"] / medians["bare app req/s"]
        print(f"throughput vs bare app: {ratio:.2f}x (target >= 0.5x)")
        own = medians["runtime path req/s"] / medians["model server req/s"]
        print(f"throughput vs the same model server on its own: {own:.2f}x")
    else:
        print("wrk is not installed: throughput not measured (apt-get install wrk)")


def model_server(model_dir: Path) -> Server:
    """The built-in's model server on its own: the program tule starts for each instance."""
    port = free_port()
    argv = [sys.executable, "-m", "tule.algorithms.container", "serve", "--algorithm", "xgboost"]
    argv += ["--model-dir", str(model_dir), "--host", "127.0.0.1", "--port", str(port)]
    return Server(argv, port, "/ping")


if __name__ == "__main__":
    main()
