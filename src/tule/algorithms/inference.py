"""One inference request through a trained model: bytes in, bytes out, as the containers answer.

`invoke()` decodes the body per Content-Type (`tule.algorithms.formats`), calls
`model.predict`, and encodes the outputs per Accept. Failures carry the HTTP status the
built-in containers use (specs §0.3, §4 Inference): 415 for a content type the algorithm does
not take (and for XGBoost, for a body it cannot parse), 406 for an Accept it cannot produce,
400 for a request that decodes but cannot be predicted on (wrong feature count, bad values),
and 204 for an empty body. Response encodings:

* `application/json`: `{"predictions": [{key: value, ...}, ...]}` (the wrapper key is the
  algorithm's `json_response_key`: PCA "projections", RCF "scores");
* `application/jsonlines`: the per-row objects, one per line;
* `application/x-recordio-protobuf`: one Record per row, outputs in `label` (Float32Tensor);
* `text/csv`: one line per row, the outputs' values comma-joined in key order.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

import numpy as np

from tule.algorithms.base import Algorithm, AlgorithmError, TrainedModel
from tule.algorithms.formats import csv as csv_format
from tule.algorithms.formats import decode_request, recordio_protobuf
from tule.algorithms.formats import json as json_format
from tule.algorithms.formats import jsonlines as jsonlines_format
from tule.algorithms.formats.content_types import (
    CSV,
    JSON,
    JSONLINES,
    RECORDIO_PROTOBUF,
    canonical,
    parse_content_type,
)


class InferenceError(Exception):
    """A request the container answers with an HTTP error (or 204 for an empty body)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@functools.cache
def _supported(types: tuple[str, ...]) -> frozenset[str]:
    # Cached: an algorithm's type lists are constants, and a small request's whole answer
    # takes a few hundred microseconds, of which parsing them each time took ten.
    return frozenset(canonical(parse_content_type(t)[0]) for t in types)


def choose_accept(algorithm: type[Algorithm] | Algorithm, accept: str | None) -> tuple[str, dict]:
    """The response MIME type and its parameters for an Accept header.

    Absent, empty or `*/*` means the algorithm's default. A list (`a, b;q=0.5`) takes the first
    supported entry in the order given."""
    supported = _supported(tuple(algorithm.response_accept_types))
    candidates = [part.strip() for part in (accept or "").split(",") if part.strip()]
    if not candidates:
        candidates = ["*/*"]
    for candidate in candidates:
        mime, params = parse_content_type(candidate)
        params.pop("q", None)
        if mime in ("*/*", "*", ""):
            return canonical(algorithm.default_accept), params
        if canonical(mime) in supported:
            return canonical(mime), params
    raise InferenceError(
        406,
        f"Accept type '{accept}' is not supported by {algorithm.name}; supported types are "
        f"{', '.join(algorithm.response_accept_types)}.",
    )


def encode_outputs(
    algorithm: type[Algorithm] | Algorithm,
    outputs: Mapping[str, np.ndarray],
    accept: str,
    options: Mapping[str, str] | None = None,
) -> bytes:
    """Response bytes for canonical MIME type `accept` (the algorithm's hook first)."""
    custom = None
    if isinstance(algorithm, Algorithm):
        custom = algorithm.encode_response(outputs, accept, options or {})
    if custom is not None:
        return custom
    if accept == JSON:
        return json_format.encode(outputs, wrapper=algorithm.json_response_key)
    if accept == JSONLINES:
        return jsonlines_format.encode(outputs)
    if accept == RECORDIO_PROTOBUF:
        return recordio_protobuf.encode_outputs(outputs)
    if accept == CSV:
        return csv_format.encode(outputs)
    raise InferenceError(406, f"Accept type '{accept}' is not supported.")


def invoke(
    model: TrainedModel,
    algorithm: type[Algorithm] | Algorithm,
    body: bytes,
    content_type: str | None,
    accept: str | None,
    settings: Mapping[str, str] | None = None,
) -> tuple[bytes, str]:
    """Answer one request: (response body, response content type), or raise `InferenceError`.

    `settings` are the container's own options (from its environment, such as XGBoost's
    `SAGEMAKER_INFERENCE_OUTPUT`); the request's MIME parameters override them.

    `algorithm` may be the class or an instance (an instance's `encode_response` override is
    used; XGBoost's version-dependent behaviour lives there)."""
    mime, request_params = parse_content_type(content_type or CSV)
    if canonical(mime) not in _supported(tuple(algorithm.request_content_types)):
        raise InferenceError(
            415,
            f"Content type '{content_type}' is not supported by {algorithm.name}; supported "
            f"types are {', '.join(algorithm.request_content_types)}.",
        )
    response_type, accept_params = choose_accept(algorithm, accept)
    if not body:
        raise InferenceError(204, "")
    try:
        dataset = decode_request(
            body, content_type or CSV, feature_dim=getattr(model, "feature_dim", None)
        )
    except AlgorithmError as exc:
        raise InferenceError(algorithm.decode_error_status, exc.reason) from None
    if dataset.num_rows == 0:
        raise InferenceError(204, "")
    options = {**(settings or {}), **request_params, **accept_params}
    try:
        outputs = model.predict(dataset.features, options=options)
    except AlgorithmError as exc:
        raise InferenceError(400, exc.reason) from None
    except (ValueError, TypeError) as exc:
        raise InferenceError(400, f"Unable to evaluate payload provided: {exc}") from None
    return encode_outputs(algorithm, outputs, response_type, options), response_type
