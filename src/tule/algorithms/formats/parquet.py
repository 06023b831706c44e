"""`application/x-parquet` (XGBoost's `parquet`): the first column is the label.

Columns after the first `label_size` (default 1) are features, cast to float. File mode reads
each file in row groups; a Pipe stream is not seekable, so it is buffered whole (Parquet keeps
its footer at the end of the file) — the one format here that cannot stream from a pipe.
"""

from __future__ import annotations

import io
from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tule.algorithms.base import DataError
from tule.algorithms.formats.dataset import Dataset, ReadOptions
from tule.algorithms.formats.sources import Source

_BATCH_ROWS = 1 << 16


def _to_dataset(batch: pa.RecordBatch | pa.Table, opts: ReadOptions, where: str) -> Dataset:
    dtype = np.dtype(opts.dtype)
    label_size = 1 if opts.label_size is None else opts.label_size
    width = batch.num_columns - label_size
    if width < 1:
        raise DataError(
            f"Parquet data in {where} of channel '{opts.channel}' has no feature columns."
        )
    if opts.feature_dim is not None and width != opts.feature_dim:
        raise DataError(
            f"Number of features in channel '{opts.channel}' ({width}, {where}) does not match "
            f"feature_dim={opts.feature_dim}."
        )
    try:
        features = np.empty((batch.num_rows, width), dtype=dtype)
        for j in range(width):
            column = batch.column(label_size + j)
            features[:, j] = column.cast(pa.float64()).to_numpy(zero_copy_only=False)
        labels = None
        if label_size:
            cols = [
                batch.column(i).cast(pa.float64()).to_numpy(zero_copy_only=False)
                for i in range(label_size)
            ]
            labels = (cols[0] if label_size == 1 else np.column_stack(cols)).astype(dtype)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise DataError(
            f"Unable to read data channel '{opts.channel}': non-numeric Parquet column in "
            f"{where} ({exc})."
        ) from None
    return Dataset(features, labels)


def _parquet_file(source: Source) -> pq.ParquetFile:
    try:
        if source.path is not None:
            return pq.ParquetFile(str(source.path))
        with source.open() as stream:
            return pq.ParquetFile(io.BytesIO(stream.read()))
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"Unable to read Parquet file {source.name}: {exc}") from None


def iter_chunks(source: Source, opts: ReadOptions, **_: object) -> Iterator[Dataset]:
    for batch in _parquet_file(source).iter_batches(batch_size=_BATCH_ROWS):
        if batch.num_rows:
            yield _to_dataset(batch, opts, source.name)


def read(source: Source, opts: ReadOptions, **_: object) -> Dataset | None:
    table = _parquet_file(source).read()
    return _to_dataset(table, opts, source.name) if table.num_rows else None


def decode(body: bytes, opts: ReadOptions) -> Dataset:
    try:
        table = pq.read_table(io.BytesIO(body))
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"Unable to parse Parquet request: {exc}") from None
    label_size = 0 if opts.label_size is None else opts.label_size
    return _to_dataset(table, ReadOptions(**{**opts.__dict__, "label_size": label_size}), "request")


def write(stream, features: np.ndarray, labels: np.ndarray | None = None) -> None:
    """Write a Parquet file, label first — for tests, examples and benchmarks."""
    columns = {} if labels is None else {"label": labels}
    columns.update({f"f{j}": features[:, j] for j in range(features.shape[1])})
    pq.write_table(pa.table(columns), stream)
