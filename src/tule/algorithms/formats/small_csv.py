"""Small plain `text/csv` request bodies decoded without Arrow, to the same `Dataset`.

A request of a row or a few (what the SDK's CSVSerializer sends to a real-time endpoint) cost
about 150-250 us in Arrow's CSV reader, almost all of it the reader's fixed set-up; Python's
`float` takes under a microsecond a cell. `decode` answers only bodies whose result it can
prove equal to the general reader's (`csv.decode`) and returns None for everything else, which
then takes the general path: so every error, every unusual spelling and every large body is
still the general reader's. A body qualifies when it is small, holds only digits, `.eE+-`,
commas and line breaks (`\\n` or `\\r\\n`), every non-empty line has the same number of cells
and every non-empty cell is a number Python reads.

Values equal Arrow's bit for bit: Python's `float` rounds the text correctly to a double, like
Arrow's parser, and the double then rounds to the same float32 as the text itself unless it
lies exactly halfway between two float32 values (rounding twice can then differ), is below
float32's normal range (where its grid is coarser) or beyond its largest value: those bodies
go to the general path. An empty cell is NaN, as Arrow's null is.
"""

from __future__ import annotations

import math

import numpy as np

from tule.algorithms.formats.dataset import Dataset, ReadOptions

# Python reads a cell in 0.1-0.3 us against Arrow's ~170 us of set-up: they break even near
# 8 KiB of 20-digit cells, so bodies up to half that take this path.
MAX_BYTES = 4 * 1024
_PLAIN = b"0123456789eE.+-,\n\r"
_FLOAT32 = np.dtype(np.float32)
_FLOAT64 = np.dtype(np.float64)
_FLOAT32_MAX = float(np.finfo(np.float32).max)
_FLOAT32_TINY = float(np.finfo(np.float32).tiny)
# The 29 low fraction bits a double loses on the way to float32; a double exactly halfway
# between two float32 values has these bits equal to `_HALFWAY`.
_DROPPED = np.uint64((1 << 29) - 1)
_HALFWAY = np.uint64(1 << 28)


def decode(body: bytes, opts: ReadOptions) -> Dataset | None:
    """The Dataset `csv.decode` gives for `body`, or None when the body is not small and plain
    (features only: a label or weight column is left to the general path)."""
    dtype = np.dtype(opts.dtype)
    if (
        len(body) > MAX_BYTES
        or opts.csv_weights
        or opts.label_size
        or dtype not in (_FLOAT32, _FLOAT64)
        or body.translate(None, _PLAIN)
    ):
        return None
    text = body.decode("ascii")
    if "\r" in text:
        if text.count("\r") != text.count("\r\n"):
            return None  # a lone carriage return: a line break to Arrow
        text = text.replace("\r\n", "\n")
    # Arrow skips empty lines; no other blank line can pass the character check.
    lines = [line for line in text.split("\n") if line]
    if not lines:
        return None
    commas = lines[0].count(",")
    if any(line.count(",") != commas for line in lines):
        return None  # ragged rows: the general path words the error
    width = commas + 1
    if opts.feature_dim is not None and width != opts.feature_dim:
        return None
    cells = ",".join(lines).split(",")
    try:
        if "" in cells:
            values = [float(cell) if cell else math.nan for cell in cells]
        else:
            values = list(map(float, cells))
    except ValueError:
        return None
    doubles = np.array(values, dtype=np.float64)
    if not _exact(doubles, dtype):
        return None
    features = doubles.astype(dtype, copy=False).reshape(len(lines), width)
    return Dataset(features)


def _exact(doubles: np.ndarray, dtype: np.dtype) -> bool:
    """Whether these doubles become in `dtype` exactly what the text itself would."""
    magnitude = np.abs(doubles)
    # NaN (an empty cell) fails every comparison, as it should: it converts exactly.
    if dtype == _FLOAT64:
        return not bool((magnitude == math.inf).any())
    tiny = (magnitude < _FLOAT32_TINY) & (magnitude > 0)
    if bool(((magnitude > _FLOAT32_MAX) | tiny).any()):
        return False
    return not bool(((doubles.view(np.uint64) & _DROPPED) == _HALFWAY).any())
