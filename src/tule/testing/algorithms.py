"""The conformance suite every built-in algorithm passes (ARCHITECTURE.md, "A built-in algorithm").

Each check takes an Algorithm class and a scratch folder and raises AssertionError with a
readable message when the algorithm breaks the contract. The checks rely on the two example
hooks of `tule.algorithms.base.Algorithm` (`example_hyperparameters`, `example_data`):

* hyperparameters: the example set parses; defaults satisfy their own constraints; an unknown
  name, an out-of-range value, a bad choice and a missing required name are rejected with a
  reason naming the culprit; `as_strings()` parses back to the same values;
* training: seeded runs are reproducible; each metric the run should emit (per
  `emitted_metrics`) matches a log line (tabs rendered `#011` as CloudWatch does);
* the model: save -> load predicts identically; every request content type x accept type
  round-trips through `tule.algorithms.inference.invoke` with the model's own numbers;
* the container: `run_training` in a job workspace then the serve app answers `/ping` and
  `/invocations`; bad channel data fails the job with a readable `ClientError` FailureReason.

Use it from pytest with `conformance_params()` (see tests/algorithms/test_conformance.py).
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp

from tule.algorithms import registry
from tule.algorithms.base import Algorithm, ChannelData, HyperparameterError, ListReporter, Spec
from tule.algorithms.container import instantiate
from tule.algorithms.formats import Dataset, canonical, parse_content_type
from tule.algorithms.formats import csv as csv_format
from tule.algorithms.formats import libsvm as libsvm_format
from tule.algorithms.formats import parquet as parquet_format
from tule.algorithms.formats import recordio_protobuf as rp
from tule.algorithms.inference import InferenceError, invoke

_LEADING_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?(?:nan|inf)", re.I)
_WRITABLE = ("application/x-recordio-protobuf", "text/csv", "text/libsvm", "application/x-parquet")

# ------------------------------------------------------------------------------- helpers


def _algorithm(cls: type[Algorithm]) -> Algorithm:
    return instantiate(cls)


def _example(cls: type[Algorithm], seed: int = 0) -> Mapping[str, Dataset]:
    try:
        return cls.example_data(seed)
    except NotImplementedError:
        pytest.fail(f"{cls.__name__} must implement example_data(seed) (see Algorithm's docstring)")


def write_dataset(dataset: Dataset, directory: Path, content_types: tuple[str, ...]) -> str:
    """Write `dataset` into `directory` in the first writable type; returns the content type."""
    directory.mkdir(parents=True, exist_ok=True)
    wanted = [canonical(parse_content_type(c)[0]) for c in content_types]
    mime = next((w for w in wanted if w in _WRITABLE), None)
    if mime is None:
        raise AssertionError(f"no writable content type among {content_types}")
    labels = None if dataset.labels is None else np.asarray(dataset.labels, dtype=np.float32)
    with open(directory / f"data.{mime.rsplit('/', 1)[-1]}", "wb") as f:
        if mime == "application/x-recordio-protobuf":
            if dataset.is_sparse:
                rp.write_sparse(f, sp.csr_matrix(dataset.features, dtype=np.float32), labels)
            else:
                rp.write_dense(f, np.asarray(dataset.features, dtype=np.float32), labels)
        elif mime == "text/csv":
            csv_format.write_training(f, dataset.dense_features(), labels)
            return f"text/csv;label_size={0 if labels is None else 1}"
        elif mime == "text/libsvm":
            libsvm_format.write(f, dataset.features, labels, dataset.weights)
        else:
            parquet_format.write(f, dataset.dense_features(), labels)
    return mime


def job_workspace(
    root: Path,
    hyperparameters: Mapping[str, str],
    channels: Mapping[str, Dataset],
    content_type: str,
    current_host: str = "algo-1",
    hosts: list[str] | None = None,
) -> Path:
    """A SageMaker-shaped job workspace under `root` (the config files and File-mode channels
    written in `content_type`), for `python -m tule.algorithms.container train`."""
    config = root / "input" / "config"
    config.mkdir(parents=True)
    (config / "hyperparameters.json").write_text(json.dumps(dict(hyperparameters)))
    data_config = {}
    for name, dataset in channels.items():
        kind = write_dataset(dataset, root / "input" / "data" / name, (content_type,))
        data_config[name] = {"ContentType": kind, "TrainingInputMode": "File"}
    (config / "inputdataconfig.json").write_text(json.dumps(data_config))
    resource = {"current_host": current_host, "hosts": hosts or [current_host]}
    (config / "resourceconfig.json").write_text(json.dumps(resource))
    return root


def example_channels(
    cls: type[Algorithm], directory: Path, seed: int = 0, data: Mapping[str, Dataset] | None = None
) -> dict[str, ChannelData]:
    """The example data written as File-mode channels under `directory/<channel>`."""
    specs = {s.name: s for s in cls.channels}
    channels = {}
    for name, dataset in (data or _example(cls, seed)).items():
        content_type = write_dataset(dataset, directory / name, specs[name].content_types)
        channels[name] = ChannelData(name, content_type, files=[directory / name])
    return channels


def train_example(cls: type[Algorithm], directory: Path, seed: int = 0):
    """(model, log lines, algorithm instance) from the example data and hyperparameters."""
    algorithm = _algorithm(cls)
    hyperparameters = algorithm.hyperparameters.parse(cls.example_hyperparameters())
    reporter = ListReporter()
    channels = example_channels(cls, directory, seed)
    model = algorithm.train(hyperparameters, channels, reporter)
    return model, reporter.lines, algorithm


def _assert_same_outputs(a: Mapping[str, Any], b: Mapping[str, Any], what: str) -> None:
    assert list(a) == list(b), f"{what}: output keys differ: {list(a)} vs {list(b)}"
    for key in a:
        left, right = np.asarray(a[key], dtype=np.float64), np.asarray(b[key], dtype=np.float64)
        assert left.shape == right.shape, f"{what}: '{key}' shapes {left.shape} vs {right.shape}"
        np.testing.assert_allclose(left, right, rtol=1e-5, atol=1e-6, err_msg=f"{what}: '{key}'")


def encode_request(features: np.ndarray, content_type: str) -> bytes:
    """A request body carrying `features` (dense float32 rows) in `content_type`."""
    mime = canonical(parse_content_type(content_type)[0])
    rows = np.asarray(features, dtype=np.float32)
    if mime == "text/csv":
        out = io.BytesIO()
        np.savetxt(out, rows, delimiter=",", fmt="%.9g")
        return out.getvalue()
    if mime == "text/libsvm":
        lines = (" ".join(["0"] + [f"{j}:{v!r}" for j, v in enumerate(r.tolist())]) for r in rows)
        return ("\n".join(lines) + "\n").encode()
    if mime == "application/x-recordio-protobuf":
        out = io.BytesIO()
        rp.write_dense(out, rows)
        return out.getvalue()
    instances = [{"features": r.tolist()} for r in rows]
    if mime == "application/json":
        return json.dumps({"instances": instances}).encode()
    if mime == "application/jsonlines":
        return "".join(json.dumps(i) + "\n" for i in instances).encode()
    raise AssertionError(f"no request encoder for {content_type}")


def decode_response(body: bytes, accept: str, wrapper: str) -> list[Any]:
    """Per-row values of a response: dicts (JSON, JSON Lines, protobuf) or lists (CSV)."""
    if accept == "application/json":
        payload = json.loads(body)
        assert wrapper in payload, f"JSON response lacks '{wrapper}': {body[:200]!r}"
        return payload[wrapper]
    if accept == "application/jsonlines":
        return [json.loads(line) for line in body.decode().splitlines() if line.strip()]
    if accept == "application/x-recordio-protobuf":
        return [{k: t.values.tolist() for k, t in r.label.items()} for r in rp.read_records(body)]
    return [[float(c) for c in line.split(",")] for line in body.decode().splitlines() if line]


def asgi_call(app, method: str, path: str, body: bytes = b"", headers=None):
    """(status, headers, body) of one request to an ASGI app, without a network or httpx."""
    raw = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": raw,
        "http_version": "1.1",
        "scheme": "http",
        "server": ("localhost", 8080),
        "client": ("127.0.0.1", 1),
        "root_path": "",
    }
    sent: list[dict] = []
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> dict:
        return pending.pop() if pending else {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    out = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], {k.decode(): v.decode() for k, v in start["headers"]}, out


# ------------------------------------------------------------------------------- checks


def check_example_hyperparameters_parse(cls: type[Algorithm], tmp: Path) -> None:
    try:
        hp = _algorithm(cls).hyperparameters.parse(cls.example_hyperparameters())
    except HyperparameterError as exc:
        raise AssertionError(
            f"{cls.__name__}.example_hyperparameters() must give every required "
            f"hyperparameter: {exc.reason}"
        ) from None
    again = type(hp).parse(hp.as_strings())
    assert again == hp, f"as_strings() does not parse back: {hp.as_strings()}"


def _specs(cls: type[Algorithm]) -> dict[str, tuple[dataclasses.Field, Spec]]:
    return _algorithm(cls).hyperparameters.specs()


def check_defaults_satisfy_constraints(cls: type[Algorithm], tmp: Path) -> None:
    for name, (f, spec) in _specs(cls).items():
        default = f.default
        if default is dataclasses.MISSING or default is None or default in spec.allow:
            continue
        values = default if isinstance(default, list | tuple) else [default]
        if spec.choices is not None:
            assert all(v in spec.choices for v in values), f"default of {name} not in choices"
        for v in values:
            if isinstance(v, int | float) and not isinstance(v, bool):
                assert spec.minimum is None or v >= spec.minimum, f"default of {name} < minimum"
                assert spec.maximum is None or v <= spec.maximum, f"default of {name} > maximum"


def _rejected(cls: type[Algorithm], raw: Mapping[str, str], culprit: str, what: str) -> None:
    try:
        _algorithm(cls).hyperparameters.parse(raw)
    except HyperparameterError as exc:
        assert culprit in exc.reason, f"{what}: reason does not name {culprit!r}: {exc.reason}"
        assert exc.failure_reason.startswith("ClientError: ")
        return
    raise AssertionError(f"{what}: {dict(raw)} was accepted")


def check_unknown_hyperparameter_rejected(cls: type[Algorithm], tmp: Path) -> None:
    raw = {**cls.example_hyperparameters(), "not_a_hyperparameter": "1"}
    _rejected(cls, raw, "not_a_hyperparameter", "unknown name")


def check_hidden_hyperparameters_ignored(cls: type[Algorithm], tmp: Path) -> None:
    raw = {**cls.example_hyperparameters(), "_tuning_objective_metric": cls.metrics[0].name}
    _algorithm(cls).hyperparameters.parse(raw)


def check_bad_values_rejected(cls: type[Algorithm], tmp: Path) -> None:
    base = cls.example_hyperparameters()
    tried = 0
    for name, (_, spec) in _specs(cls).items():
        if name.startswith("_") or spec.parse is not None:
            continue
        if spec.minimum is not None:
            bad = spec.minimum - (0 if spec.exclusive_minimum else 1)
            _rejected(cls, {**base, name: str(bad)}, name, f"{name}={bad} (below minimum)")
            tried += 1
        if spec.choices is not None and all(isinstance(c, str) for c in spec.choices):
            _rejected(cls, {**base, name: "no-such-choice"}, name, f"{name} bad choice")
            tried += 1
    assert tried, "no hyperparameter declares a minimum or choices: nothing is range-checked"


def check_missing_required_rejected(cls: type[Algorithm], tmp: Path) -> None:
    base = cls.example_hyperparameters()
    for name, (_, spec) in _specs(cls).items():
        if spec.required:
            raw = {k: v for k, v in base.items() if k != name and k not in spec.aliases}
            _rejected(cls, raw, name, f"missing {name}")


def check_seeded_runs_reproducible(cls: type[Algorithm], tmp: Path) -> None:
    first, _, _ = train_example(cls, tmp / "a")
    second, _, _ = train_example(cls, tmp / "b")
    features = _example(cls)["train"].features
    _assert_same_outputs(first.predict(features), second.predict(features), "two seeded runs")


def check_declared_metrics_emitted(cls: type[Algorithm], tmp: Path) -> None:
    _, lines, _ = train_example(cls, tmp)
    names = {m.name for m in cls.metrics}
    assert len(names) == len(cls.metrics), "duplicate metric names"
    # CloudWatch renders a tab as #011, which the built-in regexes expect (specs §0.4).
    rendered = [line.replace("\t", "#011") for line in lines]
    expected = cls.emitted_metrics(cls.example_hyperparameters(), list(_example(cls)))
    assert expected, "the example run emits no metrics"
    by_name = {m.name: m for m in cls.metrics}
    for name in expected:
        pattern = re.compile(by_name[name].regex)
        found = [m for line in rendered if (m := pattern.search(line))]
        assert found, f"metric {name} ({pattern.pattern}) matches no log line"
        # `(\S+)` captures run on past a `#011` separator ("0.99#011validation-logloss:..."),
        # so the value is the capture's leading number, as SageMaker's extractor reads it.
        value = _LEADING_NUMBER.match(found[-1].group(1))
        assert value, f"metric {name} captured no number: {found[-1].group(1)!r}"


def check_save_load_identical(cls: type[Algorithm], tmp: Path) -> None:
    model, _, _ = train_example(cls, tmp / "train")
    (tmp / "model").mkdir()
    model.save(tmp / "model")
    loaded = cls.model_class.load(tmp / "model")
    features = _example(cls)["train"].features
    _assert_same_outputs(model.predict(features), loaded.predict(features), "save -> load")


def check_content_types_round_trip(cls: type[Algorithm], tmp: Path) -> None:
    model, _, algorithm = train_example(cls, tmp)
    features = _example(cls)["train"].dense_features()[:7].astype(np.float32)
    expected = model.predict(features)
    keys = list(expected)
    for content_type in cls.request_content_types:
        body = encode_request(features, content_type)
        for accept in cls.response_accept_types:
            what = f"{content_type} -> {accept}"
            payload, response_type = invoke(model, algorithm, body, content_type, accept)
            assert response_type == canonical(accept), f"{what}: answered {response_type}"
            rows = decode_response(payload, response_type, cls.json_response_key)
            assert len(rows) == len(features), f"{what}: {len(rows)} rows for {len(features)}"
            for i, row in enumerate(rows):
                if isinstance(row, list):  # CSV: the numbers of the row, in key order
                    flat = np.concatenate([np.ravel(expected[k][i]) for k in keys]).astype(float)
                    if len(row) == len(flat):
                        np.testing.assert_allclose(row, flat, rtol=1e-5, err_msg=what)
                    continue
                for key in set(row) & set(keys):
                    np.testing.assert_allclose(
                        np.ravel(np.asarray(row[key], dtype=float)),
                        np.ravel(np.asarray(expected[key][i], dtype=float)),
                        rtol=1e-5,
                        atol=1e-6,
                        err_msg=f"{what}: row {i} '{key}'",
                    )
    try:
        invoke(model, algorithm, b"1", "image/png", None)
        raise AssertionError("an unsupported content type was accepted")
    except InferenceError as exc:
        assert exc.status == 415
    try:
        invoke(
            model,
            algorithm,
            encode_request(features, cls.request_content_types[0]),
            cls.request_content_types[0],
            "image/png",
        )
        raise AssertionError("an unsupported accept type was accepted")
    except InferenceError as exc:
        assert exc.status == 406


def _workspace(cls: type[Algorithm], root: Path, data: Mapping[str, Dataset]) -> Path:
    config = root / "input" / "config"
    config.mkdir(parents=True)
    channels = example_channels(cls, root / "input" / "data", data=data)
    (config / "hyperparameters.json").write_text(json.dumps(cls.example_hyperparameters()))
    inputs = {
        n: {
            "ContentType": c.content_type,
            "TrainingInputMode": "File",
            "S3DistributionType": "FullyReplicated",
            "RecordWrapperType": "None",
        }
        for n, c in channels.items()
    }
    (config / "inputdataconfig.json").write_text(json.dumps(inputs))
    (config / "resourceconfig.json").write_text(
        json.dumps({"current_host": "algo-1", "hosts": ["algo-1"]})
    )
    return root


def check_container_train_and_serve(cls: type[Algorithm], tmp: Path) -> None:
    from tule.algorithms.container.serve import create_app
    from tule.algorithms.container.train import run_training

    workspace = _workspace(cls, tmp, _example(cls))
    lines: list[str] = []
    code = run_training(workspace, cls, stream=io.StringIO(), sink=lines.append)
    failure = workspace / "output" / "failure"
    assert code == 0, failure.read_text() if failure.exists() else "\n".join(lines[-20:])
    assert any("Final configuration" in line for line in lines)
    app = create_app(workspace / "model", cls)
    assert asgi_call(app, "GET", "/ping")[0] == 200
    content_type = cls.request_content_types[0]
    features = _example(cls)["train"].dense_features()[:3]
    status, _, body = asgi_call(
        app,
        "POST",
        "/invocations",
        encode_request(features, content_type),
        {"content-type": content_type},
    )
    assert status == 200, body


def check_bad_data_fails_readably(cls: type[Algorithm], tmp: Path) -> None:
    from tule.algorithms.container.train import run_training

    workspace = _workspace(cls, tmp, _example(cls))
    train_dir = workspace / "input" / "data" / "train"
    config = json.loads((workspace / "input" / "config" / "inputdataconfig.json").read_text())
    mime = canonical(parse_content_type(config["train"]["ContentType"])[0])
    for old in train_dir.iterdir():
        old.unlink()
    # Garbage for the channel's own format: a non-numeric CSV cell, or bytes that are not
    # RecordIO, LibSVM or Parquet.
    bad = b"1,2,abc\n" if mime == "text/csv" else b"this is not training data\n"
    (train_dir / "bad.data").write_bytes(bad)
    code = run_training(workspace, cls, stream=io.StringIO())
    assert code != 0, "training on garbage succeeded"
    reason = (workspace / "output" / "failure").read_text()
    assert reason.startswith("ClientError: "), f"not a client error: {reason[:300]}"
    assert "Traceback" not in reason and len(reason) > 20, reason


CHECKS: dict[str, Callable[[type[Algorithm], Path], None]] = {
    "example_hyperparameters_parse": check_example_hyperparameters_parse,
    "defaults_satisfy_constraints": check_defaults_satisfy_constraints,
    "unknown_hyperparameter_rejected": check_unknown_hyperparameter_rejected,
    "hidden_hyperparameters_ignored": check_hidden_hyperparameters_ignored,
    "bad_values_rejected": check_bad_values_rejected,
    "missing_required_rejected": check_missing_required_rejected,
    "seeded_runs_reproducible": check_seeded_runs_reproducible,
    "declared_metrics_emitted": check_declared_metrics_emitted,
    "save_load_identical": check_save_load_identical,
    "content_types_round_trip": check_content_types_round_trip,
    "container_train_and_serve": check_container_train_and_serve,
    "bad_data_fails_readably": check_bad_data_fails_readably,
}


def conformance_params() -> list[Any]:
    """`pytest.param(algorithm_name, check_name)` for every registered algorithm and check;
    algorithms whose module does not import (yet) are skipped."""
    params = []
    for name in registry.names():
        try:
            registry.get(name)
            marks: tuple = ()
        except registry.AlgorithmNotAvailableError as exc:
            marks = (pytest.mark.skip(reason=str(exc)),)
        params.extend(
            pytest.param(name, check, id=f"{name}-{check}", marks=marks) for check in CHECKS
        )
    return params


def run_check(algorithm_name: str, check_name: str, tmp: Path) -> None:
    CHECKS[check_name](registry.get(algorithm_name), Path(tmp))
