"""`text/csv`: no header, label column(s) first (`label_size`), parsed with pyarrow.

SageMaker's CSV convention (specs/algorithms.md §0.2): one row per line, no header row, the
first `label_size` columns are labels (default 1 for training data, 0 for inference requests),
XGBoost's `csv_weights=1` puts an instance weight in the column after the label. Empty fields
become NaN (XGBoost treats them as missing). The parse is pyarrow's multithreaded reader with
every column typed as float, so a non-numeric cell is an error, which we then locate by line
and column with a slow rescan so the FailureReason can say where.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from tule.algorithms.base import DataError
from tule.algorithms.formats import small_csv
from tule.algorithms.formats.dataset import Dataset, ReadOptions
from tule.algorithms.formats.sources import Source, peeked

_DELIMITERS = (",", "\t", ";", "|")
# pyarrow parses blocks in parallel: 1 MiB blocks keep every core busy (16 MiB blocks made a
# 1M-row file 2x slower); streaming holds one block of rows at a time.
_BLOCK = 1 << 20


def _sniff(first_line: str) -> str:
    """XGBoost sniffs the delimiter from the first line; comma unless another one is used."""
    for delimiter in _DELIMITERS:
        if delimiter in first_line:
            return delimiter
    return ","


def _first_line(head: bytes) -> str:
    for line in head.splitlines():
        if line.strip():
            return line.decode("utf-8", errors="replace")
    return ""


def _label_size(opts: ReadOptions, default: int) -> int:
    return default if opts.label_size is None else opts.label_size


def _unreadable(opts: ReadOptions, where: str, detail: str) -> DataError:
    content_type = opts.content_type or "text/csv"
    if opts.channel == "request":
        return DataError(f"Unable to parse the request body as '{content_type}': {detail}.")
    return DataError(
        f"Unable to read data channel '{opts.channel}'. Requested content-type is "
        f"'{content_type}'. {detail} ({where}). Please verify the data matches the requested "
        "content-type: CSV with no header row and the label in the first column."
    )


def _locate(lines: Iterator[bytes], delimiter: str, where: str, opts: ReadOptions) -> DataError:
    """Rescan line by line to name the first bad line and column (only on the error path)."""
    expected: int | None = None
    for number, raw in enumerate(lines, start=1):
        line = raw.decode("utf-8", errors="replace").strip("\r\n")
        if not line.strip():
            continue
        cells = line.split(delimiter)
        if expected is None:
            expected = len(cells)
        elif len(cells) != expected:
            return _unreadable(
                opts,
                where,
                f"Line {number} has {len(cells)} columns but line 1 has {expected}",
            )
        for column, cell in enumerate(cells, start=1):
            text = cell.strip()
            if not text:
                continue
            try:
                float(text)
            except ValueError:
                return _unreadable(
                    opts,
                    where,
                    f"Non-numeric value {text[:40]!r} in line {number}, column {column}",
                )
    return _unreadable(opts, where, "The data could not be parsed as CSV")


def _prepare(head: bytes, opts: ReadOptions, default_label_size: int):
    line = _first_line(head)
    delimiter = _sniff(line)
    columns = len(line.split(delimiter)) if line else 0
    label_size = _label_size(opts, default_label_size)
    arrow_type = pa.float64() if np.dtype(opts.dtype) == np.float64 else pa.float32()
    read = pacsv.ReadOptions(autogenerate_column_names=True, block_size=_BLOCK)
    parse = pacsv.ParseOptions(delimiter=delimiter)
    convert = pacsv.ConvertOptions(column_types={f"f{i}": arrow_type for i in range(columns)})
    return delimiter, columns, label_size, (read, parse, convert)


def _row_blocks(columns: Sequence[pa.ChunkedArray | pa.Array]) -> list[Sequence[Any]]:
    """The columns cut into row blocks, one array per column in each block.

    read_csv gives every column the same chunks (one per parsed block), so the blocks are the
    chunks themselves; columns chunked differently are realigned by Arrow. A request body is
    one block, kept whole (the cheapest path for small inputs)."""
    if all(not isinstance(c, pa.ChunkedArray) or c.num_chunks <= 1 for c in columns):
        return [columns]
    chunked = [c.chunks if isinstance(c, pa.ChunkedArray) else [c] for c in columns]
    lengths = [len(chunk) for chunk in chunked[0]]
    if all([len(chunk) for chunk in chunks] == lengths for chunks in chunked[1:]):
        return list(zip(*chunked, strict=True))
    table = pa.Table.from_arrays(list(columns), names=[str(i) for i in range(len(columns))])
    return [batch.columns for batch in table.to_batches()]


def _to_dataset(
    columns: Sequence[pa.ChunkedArray | pa.Array], label_size: int, opts: ReadOptions, where: str
) -> Dataset:
    dtype = np.dtype(opts.dtype)
    skip = label_size + (1 if opts.csv_weights else 0)
    width = len(columns) - skip
    if width < 1:
        raise _unreadable(opts, where, f"Rows have {len(columns)} columns, no feature columns")
    if opts.feature_dim is not None and width != opts.feature_dim:
        raise DataError(
            f"Number of features in channel '{opts.channel}' ({width}, {where}) does not match "
            f"feature_dim={opts.feature_dim}."
        )
    rows = len(columns[0]) if columns else 0
    # Labels, the weight and the features of a row go to C-ordered arrays (the algorithms
    # want contiguous rows), filled one parsed block at a time: a block's rows fit in cache,
    # where writing whole columns into a large row-major matrix strides through all of it.
    leading = np.empty((rows, skip), dtype=dtype)
    features = np.empty((rows, width), dtype=dtype)
    start = 0
    for block in _row_blocks(columns):
        stop = start + len(block[0])
        lead, rest = leading[start:stop], features[start:stop]
        for j in range(skip):
            lead[:, j] = block[j].to_numpy(zero_copy_only=False)
        for j in range(width):
            rest[:, j] = block[skip + j].to_numpy(zero_copy_only=False)
        start = stop
    labels = None
    if label_size == 1:
        labels = np.ascontiguousarray(leading[:, 0])
    elif label_size > 1:
        labels = np.ascontiguousarray(leading[:, :label_size])
    weights = np.ascontiguousarray(leading[:, label_size]) if opts.csv_weights else None
    return Dataset(features, labels, weights)


def _open(source: Source) -> tuple[bytes, pa.NativeFile]:
    """The first 64 KiB (to sniff the delimiter and width) and an Arrow input for the whole
    source, opening a Pipe stream only once."""
    if source.path is not None:
        with open(source.path, "rb") as f:
            head = f.read(1 << 16)
        return head, pa.OSFile(str(source.path))
    head, stream = peeked(source.open(), 1 << 16)
    return head, pa.PythonFile(stream, mode="r")


def _failure(source: Source, delimiter: str, opts: ReadOptions, error: Exception) -> DataError:
    if not source.reopenable:  # a FIFO cannot be read again to find the line
        return _unreadable(opts, source.name, str(error))
    with source.open() as again:
        return _locate(iter(again), delimiter, source.name, opts)


# Arrow's allocator keeps the pages of freed tables and parse blocks for reuse; after a large
# read nothing reuses them (the arrays are numpy's, XGBoost's matrices its own), so they are
# handed back: measured 1M x 29 floats, peak RSS 682 -> 558 MiB for 1.4 ms.
_RELEASE_AFTER = 64 << 20


def release_arrow_memory() -> None:
    pa.default_memory_pool().release_unused()


def read(source: Source, opts: ReadOptions, *, default_label_size: int = 1) -> Dataset | None:
    """The whole source as one Dataset (None when it holds no rows)."""
    head, stream = _open(source)
    with stream:
        if not head.strip():
            return None
        delimiter, _, label_size, options = _prepare(head, opts, default_label_size)
        try:
            table = pacsv.read_csv(stream, *options)
        except pa.ArrowInvalid as exc:
            raise _failure(source, delimiter, opts, exc) from None
    large = table.nbytes >= _RELEASE_AFTER
    data = _to_dataset(table.columns, label_size, opts, source.name)
    del table
    if large:
        release_arrow_memory()
    return data


def iter_chunks(
    source: Source, opts: ReadOptions, *, default_label_size: int = 1
) -> Iterator[Dataset]:
    """The source in blocks of a few MiB, never holding more than one block's rows."""
    head, stream = _open(source)
    with stream:
        if not head.strip():
            return
        delimiter, _, label_size, (read_opts, parse, convert) = _prepare(
            head, opts, default_label_size
        )
        try:
            # open_csv already parses the first block, so conversion errors surface here too.
            reader = pacsv.open_csv(stream, read_opts, parse, convert)
            while True:
                batch = reader.read_next_batch()
                if batch.num_rows:
                    yield _to_dataset(batch.columns, label_size, opts, source.name)
        except StopIteration:
            return
        except pa.ArrowInvalid as exc:
            raise _failure(source, delimiter, opts, exc) from None


def decode(body: bytes, opts: ReadOptions) -> Dataset:
    """An inference request body (label_size defaults to 0: requests carry features only)."""
    if not body or body.isspace():  # blank (no copy of a large body, as strip() would make)
        return Dataset(np.zeros((0, opts.feature_dim or 0), dtype=np.dtype(opts.dtype)))
    small = small_csv.decode(body, opts)  # a row or a few: the same Dataset without Arrow
    if small is not None:
        return small
    delimiter, _, label_size, options = _prepare(body[: 1 << 16], opts, 0)
    if not body.endswith(b"\n"):
        # Arrow cannot infer the columns of a lone line without its newline, and a single row
        # is the most common request (the SDK's CSVSerializer ends no line).
        body += b"\n"
    try:
        table = pacsv.read_csv(pa.BufferReader(body), *options)
    except pa.ArrowInvalid:
        raise _locate(iter(io.BytesIO(body)), delimiter, "request body", opts) from None
    return _to_dataset(table.columns, label_size, opts, "request body")


def _cell(value: object) -> str:
    if isinstance(value, float | np.floating):
        return repr(float(value)) if not float(value).is_integer() else str(float(value))
    return str(value)


def encode(outputs: Mapping[str, np.ndarray], keys: Sequence[str] | None = None) -> bytes:
    """One line per row: the row's values for `keys` (all outputs by default), comma-joined;
    multi-valued outputs (probabilities) contribute all their values."""
    names = list(keys) if keys is not None else list(outputs)
    if not names:
        return b""
    arrays = [np.asarray(outputs[k]) for k in names]
    rows = len(arrays[0])
    out = io.StringIO()
    for i in range(rows):
        cells: list[str] = []
        for array in arrays:
            value = array[i]
            if np.ndim(value):
                cells.extend(_cell(v) for v in np.ravel(value))
            else:
                cells.append(_cell(value.item() if hasattr(value, "item") else value))
        out.write(",".join(cells))
        out.write("\n")
    return out.getvalue().encode()


def write_training(
    stream: BinaryIO, features: np.ndarray, labels: np.ndarray | None = None
) -> None:
    """Write training CSV (label first) — for tests, examples and benchmarks."""
    matrix = features if labels is None else np.column_stack([labels, features])
    np.savetxt(stream, matrix, delimiter=",", fmt="%.9g")
