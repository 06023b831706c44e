"""Float32 values as text, one per line, exactly as `str(numpy.float32)` writes each: vectorised.

The XGBoost container answers `text/csv` with each prediction's shortest round-trip text
(`0.8752`, `1e-05`, `3.0`). numpy writes it through a Python call per value, about a microsecond
each, which made writing the answer a fifth of a batch request's work. Arrow's float-to-string
cast produces the same shortest digits in C, but spells some values differently: integral
values without `.0` (`3`), and small or large magnitudes without numpy's switch to scientific
notation (`0.00001` for `1e-05`). So Arrow writes the values whose spelling is the same in both
(non-integral magnitudes in [`POSITIONAL_LOW`, `POSITIONAL_HIGH`), where numpy writes a float32
positionally), and numpy writes the rest (zeros, integers, tiny or huge values, NaN, inf) one
by one. `tests/algorithms/test_float_text.py` checks the two agree over that band. A short
array (a real-time request's answer) is written by numpy alone.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["POSITIONAL_HIGH", "POSITIONAL_LOW", "SMALL", "float32_lines"]

# numpy writes a float32 positionally when 1e-4 <= |x| < 1e6, comparing in double precision
# (float32(1e-4) is just below 1e-4 and prints as 1e-04), so the bounds are applied to float64.
POSITIONAL_LOW = 1e-4
POSITIONAL_HIGH = 1e6
# Up to this many values numpy writes each (about 1 us a value, against Arrow's ~50 us set-up).
SMALL = 32


def float32_lines(values: np.ndarray) -> bytes:
    """`"".join(str(v) + "\\n" for v in values)` encoded, for a 1-D float32 array."""
    if values.dtype != np.float32 or values.ndim != 1:
        raise TypeError("float32_lines takes a 1-D float32 array")
    if len(values) <= SMALL:
        # A few values (one request's answer): Arrow's set-up costs more than numpy's calls.
        return "".join([str(v) + "\n" for v in values]).encode()
    # 64-bit offsets: the text of a few hundred million values would overflow 32-bit ones.
    text = pc.cast(pa.array(values), pa.large_string())
    # NaN fails every comparison, so it takes numpy's path too (a signalling NaN would warn).
    with np.errstate(invalid="ignore"):
        magnitude = np.abs(values.astype(np.float64))
        same = (magnitude >= POSITIONAL_LOW) & (magnitude < POSITIONAL_HIGH)
        same &= np.trunc(values) != values
    if not same.all():
        others = ~same
        spelled = pa.array([str(v) for v in values[others]], pa.large_string())
        text = pc.replace_with_mask(text, pa.array(others), spelled)
    # Each value followed by a newline: the result's character data is the whole answer.
    # The scalars are made here, not at import: the fork server imports this module, and an
    # Arrow allocation there maps memory every forked process inherits against its data limit.
    empty, newline = pa.scalar("", pa.large_string()), pa.scalar("\n", pa.large_string())
    lines = pc.binary_join_element_wise(text, empty, newline)
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int64)
    first, last = int(offsets[lines.offset]), int(offsets[lines.offset + len(lines)])
    return lines.buffers()[2][first:last].to_pybytes()
