"""`application/json` requests and responses of the IM-family containers (specs §0.3).

Request: `{"instances": [instance, ...]}` where an instance is `{"features": [...]}`,
`{"data": {"features": {"values": [...]}}}` or the sparse
`{"data": {"features": {"keys": [...], "shape": [d], "values": [...]}}}`, optionally with a
per-instance `"configuration": {...}`. A bare list of rows is not a documented request shape,
so it is refused with a message that shows the expected one.

Response: `{"predictions": [{key: value, ...}, ...]}`; PCA answers under "projections" and RCF
under "scores", which the algorithm class chooses (`Algorithm.json_response_key`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from tule.algorithms.base import DataError
from tule.algorithms.formats.dataset import Dataset, ReadOptions

_EXPECTED = (
    'expected {"instances": [{"features": [...]}, ...]} or '
    '{"instances": [{"data": {"features": {"values": [...]}}}, ...]}'
)


def _instance_row(instance: Any, index: int) -> tuple[Any, dict | None]:
    """(dense list or (keys, values, width), configuration) of one instance object."""
    if not isinstance(instance, Mapping):
        raise DataError(f"Instance {index} is not a JSON object: {_EXPECTED}.")
    configuration = instance.get("configuration")
    if "features" in instance:
        return instance["features"], configuration
    data = instance.get("data")
    features = data.get("features") if isinstance(data, Mapping) else None
    if not isinstance(features, Mapping) or "values" not in features:
        raise DataError(f"Instance {index} has no features: {_EXPECTED}.")
    if "keys" in features:
        shape = features.get("shape") or [None]
        return (features["keys"], features["values"], shape[-1]), configuration
    return features["values"], configuration


def instances_to_dataset(instances: Sequence[Any], opts: ReadOptions) -> Dataset:
    """Rows of decoded instance objects (shared by JSON and JSON Lines)."""
    dtype = np.dtype(opts.dtype)
    rows = []
    configs: list[dict] = []
    for i, instance in enumerate(instances):
        row, config = _instance_row(instance, i)
        rows.append(row)
        configs.append(config if isinstance(config, Mapping) else {})
    configuration = configs if any(configs) else None
    try:
        if any(isinstance(r, tuple) for r in rows):
            widths = [r[2] for r in rows if isinstance(r, tuple) and r[2] is not None]
            widths += [len(r) for r in rows if not isinstance(r, tuple)]
            width = opts.feature_dim or (max(widths) if widths else None)
            data, indices, indptr = [], [], [0]
            for r in rows:
                keys, values = (r[0], r[1]) if isinstance(r, tuple) else (range(len(r)), r)
                if len(keys) != len(values):
                    raise DataError("Sparse instance has different numbers of keys and values.")
                indices.extend(int(k) for k in keys)
                data.extend(float(v) for v in values)
                indptr.append(len(indices))
            if width is None:
                width = max(indices) + 1 if indices else 0
            if indices and max(indices) >= width:
                raise DataError(f"Sparse key {max(indices)} is out of range for shape [{width}].")
            features = sp.csr_matrix(
                (np.asarray(data, dtype=dtype), np.asarray(indices), np.asarray(indptr)),
                shape=(len(rows), width),
            )
        else:
            lengths = {len(r) for r in rows}
            if len(lengths) > 1:
                raise DataError(f"Instances have different numbers of features: {sorted(lengths)}.")
            features = np.asarray(rows, dtype=dtype).reshape(len(rows), -1 if rows else 0)
    except (TypeError, ValueError) as exc:
        raise DataError(f"Instance features must be numbers ({exc}).") from None
    if opts.feature_dim is not None and features.shape[1] != opts.feature_dim and rows:
        raise DataError(
            f"Number of features in the request ({features.shape[1]}) does not match the "
            f"model's feature_dim={opts.feature_dim}."
        )
    return Dataset(features, None, None, configuration)


def decode(body: bytes, opts: ReadOptions) -> Dataset:
    try:
        payload = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"Unable to parse JSON request body: {exc}.") from None
    if not isinstance(payload, Mapping) or not isinstance(payload.get("instances"), list):
        raise DataError(f"Unable to parse JSON request body: {_EXPECTED}.")
    return instances_to_dataset(payload["instances"], opts)


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def rows(outputs: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Per-row objects `{key: value}` from column arrays (one entry per row in each)."""
    keys = list(outputs)
    if not keys:
        return []
    columns = [outputs[k] for k in keys]
    count = len(columns[0])
    return [{k: _plain(c[i]) for k, c in zip(keys, columns, strict=True)} for i in range(count)]


def encode(outputs: Mapping[str, Any], *, wrapper: str = "predictions") -> bytes:
    return json.dumps({wrapper: rows(outputs)}).encode()
