"""The small-body CSV path gives exactly the general (Arrow) reader's result, or declines.

Every case decodes twice: through `csv.decode` (which tries the small path first) and through
the general reader alone (the small path switched off). Arrays must agree bit for bit, NaN
included, and errors must be the same errors."""

from decimal import Decimal

import numpy as np
import pytest

from tule.algorithms.base import DataError
from tule.algorithms.formats import csv as csv_format
from tule.algorithms.formats import small_csv
from tule.algorithms.formats.dataset import ReadOptions


def request(**kwargs) -> ReadOptions:
    return ReadOptions(label_size=kwargs.pop("label_size", 0), channel="request", **kwargs)


def general(body: bytes, opts: ReadOptions, monkeypatch: pytest.MonkeyPatch):
    with monkeypatch.context() as patch:
        patch.setattr(small_csv, "MAX_BYTES", -1)
        return outcome(body, opts)


def outcome(body: bytes, opts: ReadOptions):
    try:
        dataset = csv_format.decode(body, opts)
    except DataError as exc:
        return ("error", exc.reason)
    features = dataset.features
    labels = None if dataset.labels is None else dataset.labels.tobytes()
    return (features.dtype, features.shape, features.flags.c_contiguous, features.tobytes(), labels)


def assert_same(body: bytes, monkeypatch: pytest.MonkeyPatch, **kwargs) -> None:
    opts = request(**kwargs)
    assert outcome(body, opts) == general(body, opts, monkeypatch), body


# 1 + 2**-24 is halfway between two float32 values: text just above it rounds up in one step
# but to the halfway double, then down to even, in two.
HALFWAY_PLUS = str(Decimal(1) + Decimal(2) ** -24 + Decimal(2) ** -60)

TAKEN = [
    b"0.1257302165031433,-0.13210485875606537,0.6404226422309875,0.10490011423826218",
    b"1,2,3\n4,5,6\n",
    b"1,2,3\r\n4,5,6\r\n",
    b"\n\n1,2\n\n3,4\n\n",
    b"1,,3\n,5,\n",
    b",\n,\n",
    b"+1,1.,.5,1e5,1E+05,1.e5,-0,00012,-.25e-3",
    b"3.4028234e38,-3.4028234e38,1.1754944e-38,0.1,0.2,0.3",
    b"1." + b"0" * 60 + b"1,2",
    b"7",
    b"7\n8\n\n9",
]
DECLINED = [
    HALFWAY_PLUS.encode() + b",1",  # rounding twice would differ from Arrow
    b"1e-40,1",  # float32 subnormal
    b"1e39,1",  # beyond float32
    b"1e400,1",
    b" 1,2",  # Arrow trims spaces: left to it
    b"1\t2,3",
    b'"1",2',
    b"nan,1",
    b"-nan,1",
    b"inf,1",
    b"NA,1",
    b"1,2\r3,4",  # a lone carriage return is a line break to Arrow
    b"1,2\r\n3,4\r",
    b"1,2\r\r\n3,4",
    b"1,2\n3",  # ragged: the error comes from the general path
    b"1,2\n3,4,5",
    b"e5,1",
    b"1e,1",
    b"--1,1",
    b"+-1,1",
    b".,1",
    b"1-2,3",
    b"1e5e5,2",
]


@pytest.mark.parametrize("body", TAKEN)
def test_plain_small_bodies_take_the_small_path_with_the_same_result(body, monkeypatch):
    assert small_csv.decode(body, request()) is not None
    assert_same(body, monkeypatch)


@pytest.mark.parametrize("body", DECLINED)
def test_other_bodies_are_left_to_the_general_reader(body, monkeypatch):
    assert small_csv.decode(body, request()) is None
    assert_same(body, monkeypatch)


def test_float64_and_feature_dim_and_label_columns_agree(monkeypatch):
    for body in TAKEN + DECLINED:
        assert_same(body, monkeypatch, dtype=np.float64)
        assert_same(body, monkeypatch, feature_dim=2)
        assert_same(body, monkeypatch, feature_dim=3)
        assert_same(body, monkeypatch, label_size=1)
    # A label column or a wrong width is always the general reader's to answer.
    assert small_csv.decode(b"1,2,3", request(label_size=1)) is None
    assert small_csv.decode(b"1,2,3", request(feature_dim=4)) is None
    assert csv_format.decode(b"1,2,3", request(feature_dim=3)).features.shape == (1, 3)


def test_large_bodies_take_the_general_path(monkeypatch):
    row = b",".join([b"0.123456"] * 10) + b"\n"
    body = row * (small_csv.MAX_BYTES // len(row) + 1)
    assert small_csv.decode(body, request()) is None
    assert_same(body, monkeypatch)


def test_random_tokens_agree_with_arrow(monkeypatch):
    """Strings over the path's alphabet: whatever Python reads, Arrow reads alike."""
    rng = np.random.default_rng(11)
    alphabet = list("0123456789eE.+-")
    taken = 0
    for _ in range(400):
        cells = ["".join(rng.choice(alphabet, rng.integers(0, 7))) for _ in range(3)]
        body = ",".join(cells).encode()
        assert_same(body, monkeypatch)
        taken += small_csv.decode(body, request()) is not None
    assert taken > 20  # the check exercised the small path, not only its refusals


def test_random_values_agree_bit_for_bit(monkeypatch):
    rng = np.random.default_rng(12)
    exponents = rng.integers(-44, 39, 600)
    mantissas = rng.random(600) * 10
    cells = [f"{m:.{rng.integers(1, 20)}f}e{e}" for m, e in zip(mantissas, exponents, strict=True)]
    cells += [repr(float(v)) for v in rng.normal(size=300).astype(np.float32)]
    cells += [str(v) for v in rng.normal(size=300).astype(np.float32)]
    for start in range(0, len(cells), 6):
        body = "\n".join(",".join(cells[i : i + 3]) for i in (start, start + 3)).encode()
        assert_same(body, monkeypatch)
