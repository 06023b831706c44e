"""CSV inference requests: a single row without its newline decodes (the SDK sends that)."""

import numpy as np

from tule.algorithms.formats import decode_request


def test_single_row_without_trailing_newline_decodes() -> None:
    features = decode_request(b"1.5,2,3,4", "text/csv", feature_dim=4).features
    np.testing.assert_array_equal(features, np.array([[1.5, 2, 3, 4]], dtype=np.float32))
