"""CSV inference requests: a single row without its newline decodes (the SDK sends that)."""

import numpy as np

from tule.algorithms.formats import decode_request


def test_single_row_without_trailing_newline_decodes() -> None:
    features = decode_request(b"1.5,2,3,4", "text/csv", feature_dim=4).features
    np.testing.assert_array_equal(features, np.array([[1.5, 2, 3, 4]], dtype=np.float32))


def test_a_blank_body_is_no_rows_and_a_row_among_blanks_is_one() -> None:
    for blank in (b"", b"\n", b" \t\r\n\x0b\x0c"):
        features = decode_request(blank, "text/csv", feature_dim=3).features
        assert features.shape == (0, 3)
    features = decode_request(b"\n 1,2,3\n", "text/csv", feature_dim=3).features
    assert features.shape == (1, 3)
