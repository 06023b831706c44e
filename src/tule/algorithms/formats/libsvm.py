"""`text/libsvm` (also `text/x-libsvm`, `libsvm`): `label[:weight] index:value ...` per line.

Indices are used as given (column = index), which is XGBoost's convention: a file whose
indices start at 1 simply has an empty column 0. The width is `feature_dim` when known, else
the highest index plus one. `qid:` tokens (ranking groups) and `#` comments are dropped. A line
in an inference request that starts with an `index:value` pair has no label.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator

import numpy as np
import scipy.sparse as sp

from tule.algorithms.base import DataError
from tule.algorithms.formats.dataset import Dataset, ReadOptions
from tule.algorithms.formats.sources import Source

_QID = re.compile(r"\bqid:\S+")
_LINES_PER_CHUNK = 200_000


def _bad_line(opts: ReadOptions, where: str, number: int, line: str, detail: str) -> DataError:
    if opts.channel == "request":
        return DataError(
            f"Unable to parse the request body as LibSVM: line {number} ({detail}): {line[:80]!r}."
        )
    return DataError(
        f"Unable to read data channel '{opts.channel}'. Requested content-type is "
        f"'{opts.content_type or 'text/libsvm'}'. Line {number} of {where} is not valid LibSVM "
        f"({detail}): {line[:80]!r}. Expected '<label>[:<weight>] <index>:<value> ...'."
    )


def _locate(
    lines: list[str], first_line: int, opts: ReadOptions, where: str, request: bool
) -> DataError:
    """Find the first bad line by a slow rescan (only on the error path)."""
    for offset, line in enumerate(lines):
        tokens = _QID.sub("", line.split("#", 1)[0]).split()
        if not tokens:
            continue
        pairs = tokens if request and ":" in tokens[0] else tokens[1:]
        checks = [] if pairs is tokens else [(tokens[0], False)]
        checks += [(token, True) for token in pairs]
        for token, is_pair in checks:
            index, colon, value = token.partition(":")
            try:
                if is_pair and (not colon or int(index) < 0):
                    raise ValueError(token)
                float(index)
                if colon:
                    float(value)
            except ValueError:
                detail = f"bad token {token[:40]!r}"
                return _bad_line(opts, where, first_line + offset, line.rstrip(), detail)
    return _bad_line(opts, where, first_line, lines[0] if lines else "", "unparsable")


def _parse_lines(
    lines: list[str], first_line: int, opts: ReadOptions, where: str, *, request: bool = False
) -> Dataset:
    labels: list[str] = []
    rests: list[str] = []
    counts: list[int] = []
    for line in lines:
        if "#" in line:
            line = line.split("#", 1)[0]
        if "qid:" in line:
            line = _QID.sub("", line)
        parts = line.split(None, 1)
        if not parts:
            continue
        head = parts[0]
        rest = parts[1] if len(parts) > 1 else ""
        labels.append(head)
        rests.append(rest)
        counts.append(rest.count(":"))
    dtype = np.dtype(opts.dtype)
    try:
        label_values = weight_values = None
        if request:
            # In a request a leading "3:0.5" is a feature (requests carry no weights); a plain
            # number is a label, which inference ignores.
            rests = [f"{h} {r}" if ":" in h else r for h, r in zip(labels, rests, strict=True)]
            counts = [c + (":" in h) for h, c in zip(labels, counts, strict=True)]
        else:
            label_parts = [h.split(":") for h in labels]
            label_values = np.array([float(p[0]) for p in label_parts], dtype=dtype)
            if any(len(p) > 1 for p in label_parts):
                weights = [float(p[1]) if len(p) > 1 else 1.0 for p in label_parts]
                weight_values = np.array(weights, dtype=dtype)
        flat = np.array(" ".join(rests).replace(":", " ").split(), dtype=np.float64)
        if flat.size != 2 * sum(counts):
            raise ValueError("token count")
    except ValueError:
        raise _locate(lines, first_line, opts, where, request) from None
    pairs = flat.reshape(-1, 2)
    indices = pairs[:, 0].astype(np.int64)
    if indices.size and (indices.min() < 0 or not np.array_equal(indices, pairs[:, 0])):
        raise _locate(lines, first_line, opts, where, request)
    width = opts.feature_dim
    highest = int(indices.max()) + 1 if indices.size else 0
    if width is None:
        width = highest
    elif highest > width:
        raise DataError(
            f"Feature index {highest - 1} in {where} of channel '{opts.channel}' is out of "
            f"range for feature_dim={width}."
        )
    indptr = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    features = sp.csr_matrix(
        (pairs[:, 1].astype(dtype), indices, indptr), shape=(len(counts), width)
    )
    features.sum_duplicates()
    return Dataset(features, label_values, weight_values)


def _iter_line_blocks(source: Source) -> Iterator[tuple[list[str], int]]:
    with source.open() as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8", errors="replace")
        block: list[str] = []
        first = 1
        for number, line in enumerate(text, start=1):
            block.append(line)
            if len(block) >= _LINES_PER_CHUNK:
                yield block, first
                block, first = [], number + 1
        if block:
            yield block, first


def iter_chunks(source: Source, opts: ReadOptions, **_: object) -> Iterator[Dataset]:
    for lines, first in _iter_line_blocks(source):
        dataset = _parse_lines(lines, first, opts, source.name)
        if dataset.num_rows:
            yield dataset


def read(source: Source, opts: ReadOptions, **_: object) -> Dataset | None:
    from tule.algorithms.formats.dataset import concat

    parts = list(iter_chunks(source, opts))
    return concat(parts, sparse_width=opts.feature_dim) if parts else None


def decode(body: bytes, opts: ReadOptions) -> Dataset:
    lines = body.decode("utf-8", errors="replace").splitlines()
    return _parse_lines(lines, 1, opts, "request body", request=True)


def write(stream, features, labels=None, weights=None) -> None:
    """Write LibSVM rows (indices as column numbers) — for tests, examples and benchmarks."""
    csr = sp.csr_matrix(features)
    out = io.StringIO()
    for i in range(csr.shape[0]):
        start, stop = csr.indptr[i], csr.indptr[i + 1]
        head = "0" if labels is None else repr(float(labels[i]))
        if weights is not None:
            head += f":{float(weights[i])!r}"
        cells = " ".join(
            f"{j}:{float(v)!r}"
            for j, v in zip(csr.indices[start:stop], csr.data[start:stop], strict=True)
        )
        out.write(f"{head} {cells}\n")
    stream.write(out.getvalue().encode())
