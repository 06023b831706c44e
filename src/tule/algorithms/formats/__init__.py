"""Content types in and out of the built-in algorithms: bytes <-> `Dataset`.

Algorithms see arrays, never bytes. Training code calls `read_dataset(channel)` (the whole
channel in memory) or `iter_batches(channel, batch_size)` (streaming: one batch at a time, so a
channel larger than memory can train); inference calls `decode_request(body, content_type)`.
Readers are chosen by the channel's content type (any spelling in `content_types`); gzip is
undone transparently. Writers for responses live in the format modules and are driven by
`tule.algorithms.inference`.

Per-format modules share one shape: `read(source, opts, default_label_size=...)`,
`iter_chunks(source, opts, default_label_size=...)` and `decode(body, opts)`.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from types import ModuleType

import numpy as np

from tule.algorithms.base import ChannelData, DataError
from tule.algorithms.formats.content_types import (
    CSV,
    JSON,
    JSONLINES,
    LIBSVM,
    PARQUET,
    RECORDIO_PROTOBUF,
    canonical,
    canonical_content_type,
    parse_content_type,
)
from tule.algorithms.formats.dataset import Dataset, ReadOptions, concat
from tule.algorithms.formats.sources import iter_sources

__all__ = [
    "CSV",
    "JSON",
    "JSONLINES",
    "LIBSVM",
    "PARQUET",
    "RECORDIO_PROTOBUF",
    "Dataset",
    "ReadOptions",
    "canonical",
    "canonical_content_type",
    "concat",
    "decode_request",
    "iter_batches",
    "parse_content_type",
    "read_dataset",
]

_MODULES = {
    CSV: "csv",
    LIBSVM: "libsvm",
    RECORDIO_PROTOBUF: "recordio_protobuf",
    PARQUET: "parquet",
    JSON: "json",
    JSONLINES: "jsonlines",
}

# Training channels without a ContentType: the IM family assumes RecordIO-protobuf (§0.2).
DEFAULT_TRAINING_CONTENT_TYPE = RECORDIO_PROTOBUF


def format_module(mime: str) -> ModuleType:
    """The reader/writer module for a canonical MIME type."""
    try:
        name = _MODULES[canonical(mime)]
    except KeyError:
        raise DataError(f"Content type '{mime}' is not supported.") from None
    return importlib.import_module(f"tule.algorithms.formats.{name}")


def _options(
    channel: ChannelData,
    params: dict[str, str],
    label_size: int | None,
    feature_dim: int | None,
    dtype: np.dtype | type,
    csv_weights: bool,
) -> ReadOptions:
    if label_size is None and "label_size" in params:
        try:
            label_size = int(params["label_size"])
        except ValueError:
            raise DataError(
                f"Invalid label_size '{params['label_size']}' in content type "
                f"'{channel.content_type}' of channel '{channel.name}'."
            ) from None
    return ReadOptions(
        label_size=label_size,
        feature_dim=feature_dim,
        dtype=dtype,
        csv_weights=csv_weights,
        channel=channel.name,
        content_type=channel.content_type or DEFAULT_TRAINING_CONTENT_TYPE,
    )


def _resolve(channel: ChannelData, **kwargs) -> tuple[ModuleType, ReadOptions]:
    mime, params = canonical_content_type(channel.content_type or DEFAULT_TRAINING_CONTENT_TYPE)
    module = format_module(mime)
    if not hasattr(module, "iter_chunks"):
        raise DataError(
            f"Content type '{channel.content_type}' of channel '{channel.name}' is not "
            "supported for training data."
        )
    return module, _options(channel, params, **kwargs)


def read_dataset(
    channel: ChannelData,
    *,
    label_size: int | None = None,
    feature_dim: int | None = None,
    dtype: np.dtype | type = np.float32,
    csv_weights: bool = False,
) -> Dataset:
    """Every row of the channel, in memory. Raises `DataError` with a readable reason."""
    module, opts = _resolve(
        channel,
        label_size=label_size,
        feature_dim=feature_dim,
        dtype=dtype,
        csv_weights=csv_weights,
    )
    parts = [part for src in iter_sources(channel) if (part := module.read(src, opts))]
    if not parts:
        raise DataError(f"No data found in channel '{channel.name}'.")
    try:
        return concat(parts, sparse_width=feature_dim if any(p.is_sparse for p in parts) else None)
    except ValueError as exc:
        raise DataError(
            f"Files in channel '{channel.name}' do not agree in their number of columns ({exc})."
        ) from None


def iter_batches(
    channel: ChannelData,
    batch_size: int,
    *,
    label_size: int | None = None,
    feature_dim: int | None = None,
    dtype: np.dtype | type = np.float32,
    csv_weights: bool = False,
) -> Iterator[Dataset]:
    """One pass over the channel in batches of exactly `batch_size` rows (the last may be
    smaller). Only about one batch plus one reader block is held in memory. Sparse formats
    without `feature_dim` give batches as wide as their highest index; pass `feature_dim`."""
    if batch_size < 1:
        raise ValueError("batch_size must be positive")
    module, opts = _resolve(
        channel,
        label_size=label_size,
        feature_dim=feature_dim,
        dtype=dtype,
        csv_weights=csv_weights,
    )
    pending: list[Dataset] = []
    held = 0
    for src in iter_sources(channel):
        for chunk in module.iter_chunks(src, opts):
            start = 0
            while start < chunk.num_rows:
                take = min(batch_size - held, chunk.num_rows - start)
                pending.append(chunk.slice(start, start + take))
                held += take
                start += take
                if held == batch_size:
                    yield concat(pending, sparse_width=feature_dim if chunk.is_sparse else None)
                    pending, held = [], 0
    if pending:
        yield concat(pending, sparse_width=feature_dim if pending[0].is_sparse else None)


def decode_request(
    body: bytes,
    content_type: str,
    *,
    feature_dim: int | None = None,
    dtype: np.dtype | type = np.float32,
    label_size: int | None = None,
) -> Dataset:
    """An inference request body as a Dataset (features only unless labels are present)."""
    mime, params = canonical_content_type(content_type)
    module = format_module(mime)
    if label_size is None and "label_size" in params:
        try:
            label_size = int(params["label_size"])
        except ValueError:
            raise DataError(f"Invalid label_size in content type '{content_type}'.") from None
    opts = ReadOptions(
        label_size=label_size,
        feature_dim=feature_dim,
        dtype=dtype,
        channel="request",
        content_type=content_type,
    )
    return module.decode(body, opts)
