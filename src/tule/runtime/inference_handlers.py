"""The framework images' default inference handlers: how a model is loaded, and how request
bodies become arrays and predictions become response bodies when the user's script does not say.

Facts from the open-source serving toolkits (sagemaker-inference-toolkit, the scikit-learn,
XGBoost and PyTorch serving containers), restated:

- Decoding: `application/json` -> `np.array(json.loads(...))`, `text/csv` -> comma-separated
  rows (`np.genfromtxt`), `application/x-npy` -> `np.load` (pickles allowed, as the toolkit
  allows), `application/x-npz` -> a scipy sparse matrix. Anything else is 415.
- Encoding: JSON (arrays via `tolist`), CSV (`np.savetxt`, one value per line for a 1-D array),
  NPY. An Accept that lists several types takes the first one supported; none supported is 406.
- scikit-learn: no default `model_fn` (the container asks the user for one); JSON/CSV input
  becomes a float32 array, a single row is reshaped to one sample; `model.predict(data)`.
- PyTorch: `model_fn` loads TorchScript `model.pt`, else the only `.pt`/`.pth` file in the model
  directory (`torch.jit.load`); JSON/CSV input becomes a float32 tensor; the model runs in eval
  mode under `no_grad`; tensors are returned as lists.
- XGBoost: `model.predict(DMatrix, validate_features=False)`. Its script-mode container has no
  default `model_fn` when a user module exists; without one it serves the artifact in algorithm
  mode. We load `xgboost-model` (or the only model file) into a Booster whenever the user module
  lacks `model_fn`, and also accept JSON and NPY input, a superset of the container's CSV/LibSVM.
- TensorFlow, MXNet, Hugging Face: those images serve through their own servers; here they get
  the generic handlers, which ask the user for `model_fn` and `predict_fn`.

Framework libraries are imported only when their handler runs, so serving an sklearn model
never imports torch.
"""

from __future__ import annotations

import io
import json
import os
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

JSON = "application/json"
CSV = "text/csv"
NPY = "application/x-npy"
NPZ = "application/x-npz"
ANY = "*/*"
ENCODABLE = (JSON, CSV, NPY)
FRAMEWORKS = ("sklearn", "pytorch", "xgboost", "tensorflow", "mxnet", "huggingface")
_ALIASES = {"scikit-learn": "sklearn", "torch": "pytorch"}


class ToolkitError(Exception):
    """A failure the server answers with its own HTTP status instead of 500."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class UnsupportedContentType(ToolkitError):
    def __init__(self, content_type: str | None) -> None:
        super().__init__(
            415,
            f"Content type {content_type} is not supported by the default input_fn; "
            "implement input_fn in your inference script to deserialize it.",
        )


class UnsupportedAccept(ToolkitError):
    def __init__(self, accept: str | None) -> None:
        super().__init__(
            406,
            f"Accept type {accept} is not supported by the default output_fn; "
            "implement output_fn in your inference script to serialize to it.",
        )


def media_type(content_type: str | None) -> str:
    """`text/csv; charset=utf-8` -> `text/csv` (lower-cased, parameters dropped)."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def is_text(content_type: str | None) -> bool:
    """Whether a body of this type is handed to input_fn as `str` (UTF-8 decoded)."""
    mime = media_type(content_type)
    return mime in (JSON, CSV) or mime.startswith("text/") or mime.endswith("+json")


def accept_candidates(accept: str | None) -> list[str]:
    """The media types an Accept header lists, in order (quality values ignored)."""
    return [media_type(part) for part in (accept or "").split(",") if media_type(part)]


# -- content types ------------------------------------------------------------------------------


def decode(data: str | bytes, content_type: str | None) -> Any:
    """A request body as an array (a sparse matrix for NPZ); 415 for other content types."""
    mime = media_type(content_type)
    if mime == JSON:
        return np.array(json.loads(data))
    if mime == CSV:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        return np.genfromtxt(io.StringIO(text), delimiter=",")
    if mime == NPY:
        return np.load(io.BytesIO(_as_bytes(data)), allow_pickle=True)
    if mime == NPZ:
        import scipy.sparse

        return scipy.sparse.load_npz(io.BytesIO(_as_bytes(data)))
    raise UnsupportedContentType(content_type)


def encode(prediction: Any, accept: str | None) -> tuple[bytes, str]:
    """(body, content type) for the first type in `accept` we can write; 406 if none."""
    for mime in accept_candidates(accept):
        if mime == JSON:
            return json.dumps(prediction, default=_jsonable).encode("utf-8"), JSON
        if mime == CSV:
            buffer = io.StringIO()
            np.savetxt(buffer, np.atleast_1d(np.asarray(prediction)), delimiter=",", fmt="%s")
            return buffer.getvalue().encode("utf-8"), CSV
        if mime == NPY:
            out = io.BytesIO()
            np.save(out, np.asarray(prediction))
            return out.getvalue(), NPY
    raise UnsupportedAccept(accept)


def _as_bytes(data: str | bytes) -> bytes:
    return data.encode("utf-8") if isinstance(data, str) else bytes(data)


def _jsonable(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def as_rows(array: Any) -> Any:
    """One sample given as a flat vector becomes a one-row matrix (what `predict` expects)."""
    if isinstance(array, np.ndarray) and array.ndim <= 1:
        return array.reshape(1, -1)
    return array


# -- the handler sets ---------------------------------------------------------------------------


@dataclass(frozen=True)
class FrameworkDefaults:
    """What runs where the user's script defines no handler of that name."""

    model_fn: Callable[[str], Any]
    input_fn: Callable[[Any, str], Any]
    predict_fn: Callable[[Any, Any], Any]
    output_fn: Callable[[Any, str], Any]


def need_model_fn(model_dir: str) -> Any:
    raise NotImplementedError(
        "Please provide a model_fn implementation in your inference script: this framework "
        f"has no default way to load the model in {model_dir}."
    )


def need_predict_fn(data: Any, model: Any) -> Any:
    raise NotImplementedError(
        "Please provide a predict_fn implementation in your inference script: this framework "
        "has no default way to run the model."
    )


def generic_input_fn(data: Any, content_type: str) -> Any:
    return decode(data, content_type)


def generic_output_fn(prediction: Any, accept: str) -> tuple[bytes, str]:
    return encode(prediction, accept)


def sklearn_input_fn(data: Any, content_type: str) -> Any:
    array = as_rows(decode(data, content_type))
    return array.astype(np.float32) if media_type(content_type) in (JSON, CSV) else array


def sklearn_predict_fn(data: Any, model: Any) -> Any:
    return model.predict(data)


MODEL_FILE_SUFFIXES = (".json", ".ubj", ".model", ".bst", ".bin", ".xgb")


def xgboost_model_fn(model_dir: str) -> Any:
    import xgboost as xgb

    path = os.path.join(model_dir, "xgboost-model")
    if not os.path.isfile(path):
        candidates = sorted(
            name
            for name in os.listdir(model_dir)
            if name.endswith(MODEL_FILE_SUFFIXES) and os.path.isfile(os.path.join(model_dir, name))
        )
        if len(candidates) != 1:
            raise FileNotFoundError(
                f"No xgboost-model file in {model_dir} and {len(candidates)} other model files "
                f"({', '.join(candidates) or 'none'}); provide model_fn to load it."
            )
        path = os.path.join(model_dir, candidates[0])
    with open(path, "rb") as handle:
        raw = handle.read()
    booster = xgb.Booster()
    try:
        # From a buffer XGBoost tells JSON from UBJSON itself, whatever the file is called.
        booster.load_model(bytearray(raw))
    except xgb.core.XGBoostError:
        # The 0.90 containers pickled the Booster instead of saving it natively.
        loaded = pickle.loads(raw)
        if not isinstance(loaded, xgb.Booster):
            raise
        booster = loaded
    return booster


def xgboost_predict_fn(data: Any, model: Any) -> Any:
    import xgboost as xgb

    if isinstance(model, xgb.Booster):
        matrix = data if isinstance(data, xgb.DMatrix) else xgb.DMatrix(as_rows(data))
        return model.predict(matrix, validate_features=False)
    return model.predict(as_rows(data))  # the scikit-learn wrappers (XGBRegressor, ...)


def pytorch_model_fn(model_dir: str) -> Any:
    import torch

    path = os.path.join(model_dir, "model.pt")
    if not os.path.isfile(path):
        found = sorted(
            name
            for name in os.listdir(model_dir)
            if name.endswith((".pt", ".pth")) and os.path.isfile(os.path.join(model_dir, name))
        )
        if len(found) != 1:
            raise ValueError(
                f"Exactly one .pt or .pth file is required for PyTorch models, found {found} "
                f"in {model_dir}; or provide model_fn."
            )
        path = os.path.join(model_dir, found[0])
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        model = torch.jit.load(path, map_location=device)
    except RuntimeError as exc:
        raise RuntimeError(
            f"Failed to load {path}: the default model_fn needs a TorchScript model "
            "(torch.jit.save); provide model_fn to load other formats."
        ) from exc
    return model.to(device)


def pytorch_input_fn(data: Any, content_type: str) -> Any:
    import torch

    array = decode(data, content_type)
    if media_type(content_type) in (JSON, CSV):
        return torch.as_tensor(np.asarray(array, dtype=np.float32))
    return torch.from_numpy(np.asarray(array))


def pytorch_predict_fn(data: Any, model: Any) -> Any:
    import torch

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    with torch.no_grad():
        if hasattr(model, "eval"):
            model.eval()
        return model(torch.as_tensor(data).to(device))


def pytorch_output_fn(prediction: Any, accept: str) -> tuple[bytes, str]:
    if hasattr(prediction, "detach"):
        prediction = prediction.detach().cpu().numpy().tolist()
    return encode(prediction, accept)


_GENERIC = FrameworkDefaults(need_model_fn, generic_input_fn, need_predict_fn, generic_output_fn)
_DEFAULTS: dict[str, FrameworkDefaults] = {
    "sklearn": FrameworkDefaults(
        need_model_fn, sklearn_input_fn, sklearn_predict_fn, generic_output_fn
    ),
    "xgboost": FrameworkDefaults(
        xgboost_model_fn, generic_input_fn, xgboost_predict_fn, generic_output_fn
    ),
    "pytorch": FrameworkDefaults(
        pytorch_model_fn, pytorch_input_fn, pytorch_predict_fn, pytorch_output_fn
    ),
}


def defaults_for(framework: str | None) -> FrameworkDefaults:
    """The default handlers of a framework image (None: the generic ones)."""
    if framework is None or framework == "":
        return _GENERIC
    name = _ALIASES.get(framework.lower(), framework.lower())
    if name not in FRAMEWORKS:
        raise ValueError(f"unknown framework {framework!r}; known: {', '.join(FRAMEWORKS)}")
    return _DEFAULTS.get(name, _GENERIC)
