"""Script-mode inference serving: what the framework inference images run for a user's script.

    python -m tule.runtime.inference_toolkit --model-dir D [--code-dir C] [--framework NAME]

The SageMaker inference toolkit's handler chain (specs/aws-apis.md §4.9), served over the
container contract (§4.8): the user module (`SAGEMAKER_PROGRAM`, default `inference.py`) is
imported from the code directory (`--code-dir`, else `SAGEMAKER_SUBMIT_DIRECTORY` when it is a
local directory, else `<model-dir>/code`, where the SDK's repack puts it); `model_fn` loads the
model *before* the port opens, so `/ping` answers 200 only once the model is ready and a failing
`model_fn` fails the endpoint's creation with its message. Then per request either
`transform_fn` alone, or `input_fn` -> `predict_fn` -> `output_fn`, each falling back to the
framework's default (`inference_handlers`). Every handler may take a trailing `context`.

Deliberate details, after the toolkits:
- A missing Content-Type is read as `application/json` (sagemaker-containers' default); JSON,
  CSV and text bodies reach `input_fn` as `str`. A missing or `*/*` Accept becomes
  `SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT` (default `application/json`).
- A handler returning `(body, content_type)` sets the response type; otherwise it is the Accept.
- 415/406 for types the default handlers cannot read/write; any other exception is a 500 whose
  body is the message and traceback, and the server keeps serving.
- One request runs at a time (the model servers run one per worker, and we run one worker).
  A request running past `SAGEMAKER_MODEL_SERVER_TIMEOUT` seconds (default 60) gets a 500 and
  the process exits, as the model servers reboot an unresponsive worker; the runtime restarts it.
- `GET /execution-parameters` answers the user's `execution_parameters_fn()` if defined (as the
  scikit-learn container does), else 404, meaning "no preference" to batch transform.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import importlib
import inspect
import json
import os
import sys
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tule.runtime.inference_handlers import (
    ANY,
    JSON,
    FrameworkDefaults,
    ToolkitError,
    defaults_for,
    is_text,
)

DEFAULT_PROGRAM = "inference.py"
DEFAULT_PORT = 8080
DEFAULT_TIMEOUT_S = 60.0
_CHAIN = ("input_fn", "predict_fn", "output_fn")
# Exit status after a request overran the timeout, so the log says why the worker went away.
_TIMEOUT_EXIT = 75


class InferenceContext:
    """The trailing `context` argument: a small stand-in for the model server's Context, with
    the calls inference scripts use (request headers, response headers, system properties)."""

    def __init__(self, model_dir: str, request_headers: Mapping[str, str] | None = None) -> None:
        self.system_properties: dict[str, Any] = {
            "model_dir": model_dir,
            "gpu_id": 0,
            "batch_size": 1,
            "server_name": "tule",
        }
        self.request_headers = {k.lower(): v for k, v in (request_headers or {}).items()}
        self.response_headers: dict[str, str] = {}

    def get_request_header(self, idx: int, key: str) -> str | None:
        return self.request_headers.get(key.lower())

    def get_all_request_header(self, idx: int) -> dict[str, str]:
        return dict(self.request_headers)

    def set_response_header(self, idx: int, key: str, value: str) -> None:
        self.response_headers[key] = value


@dataclass
class Outcome:
    """One answered request."""

    status: int
    body: bytes
    content_type: str
    headers: dict[str, str] = field(default_factory=dict)


def call_handler(func: Callable[..., Any], args: tuple[Any, ...], context: Any) -> Any:
    """Call `func` with `args`, plus `context` if it takes one more parameter (the toolkit
    decides by the number of parameters in the signature)."""
    count = len(inspect.signature(func).parameters)
    if count == len(args):
        return func(*args)
    if count == len(args) + 1:
        return func(*args, context)
    name = getattr(func, "__name__", repr(func))
    raise TypeError(f"{name} takes {count} arguments but {len(args)} were given")


class HandlerChain:
    """The user's handlers over the framework defaults, and the model they serve."""

    def __init__(
        self,
        module: ModuleType | None,
        defaults: FrameworkDefaults,
        model_dir: str,
        default_accept: str = JSON,
    ) -> None:
        def user(name: str) -> Callable[..., Any] | None:
            return getattr(module, name, None) if module is not None else None

        self.model_dir = model_dir
        self.default_accept = default_accept
        self.model: Any = None
        transform_fn = user("transform_fn")
        chain = [name for name in _CHAIN if user(name) is not None]
        if transform_fn is not None and chain:
            raise ValueError(
                "Cannot use transform_fn together with input_fn, predict_fn or output_fn "
                f"(the inference script defines transform_fn and {', '.join(chain)})"
            )
        self.model_fn = user("model_fn") or defaults.model_fn
        self.pre_model_fn = user("pre_model_fn")
        self.model_warmup_fn = user("model_warmup_fn")
        self.transform_fn = transform_fn
        self.input_fn = user("input_fn") or defaults.input_fn
        self.predict_fn = user("predict_fn") or defaults.predict_fn
        self.output_fn = user("output_fn") or defaults.output_fn
        self.execution_parameters_fn = user("execution_parameters_fn")

    def load(self) -> None:
        """Run `pre_model_fn`, `model_fn` and `model_warmup_fn` (each if defined)."""
        context = InferenceContext(self.model_dir)
        if self.pre_model_fn is not None:
            call_handler(self.pre_model_fn, (self.model_dir,), context)
        self.model = call_handler(self.model_fn, (self.model_dir,), context)
        if self.model_warmup_fn is not None:
            call_handler(self.model_warmup_fn, (self.model_dir, self.model), context)

    def transform(self, body: bytes, headers: Mapping[str, str]) -> Outcome:
        """Answer one `/invocations` request; never raises."""
        lowered = {k.lower(): v for k, v in headers.items()}
        content_type = lowered.get("content-type") or JSON
        accept = lowered.get("accept", "").strip()
        if not accept or accept == ANY:
            accept = self.default_accept
        context = InferenceContext(self.model_dir, lowered)
        try:
            data: str | bytes = body.decode("utf-8") if is_text(content_type) else body
            if self.transform_fn is not None:
                args = (self.model, data, content_type, accept)
                result = call_handler(self.transform_fn, args, context)
            else:
                decoded = call_handler(self.input_fn, (data, content_type), context)
                prediction = call_handler(self.predict_fn, (decoded, self.model), context)
                result = call_handler(self.output_fn, (prediction, accept), context)
            response_type = accept
            if isinstance(result, tuple):
                result, response_type = result[0], result[1]
            return Outcome(200, to_bytes(result), str(response_type), context.response_headers)
        except ToolkitError as exc:
            return Outcome(exc.status, exc.message.encode("utf-8"), "text/plain")
        except Exception as exc:
            trace = traceback.format_exc()
            sys.stderr.write(trace)
            sys.stderr.flush()
            return Outcome(500, f"{exc}\n{trace}".encode(), "text/plain")

    def execution_parameters(self) -> Any | None:
        if self.execution_parameters_fn is None:
            return None
        return call_handler(self.execution_parameters_fn, (), InferenceContext(self.model_dir))


def to_bytes(body: Any) -> bytes:
    """A handler's response body as bytes (other values as JSON, as the model servers do)."""
    if body is None:
        return b""
    if isinstance(body, bytes | bytearray | memoryview):
        return bytes(body)
    if isinstance(body, str):
        return body.encode("utf-8")
    return json.dumps(
        body, default=lambda v: v.tolist() if hasattr(v, "tolist") else str(v)
    ).encode()


def load_user_module(code_dir: Path, program: str, *, required: bool) -> ModuleType | None:
    """Import the user's module from `code_dir` (put first on sys.path and made the working
    directory, so its sibling modules and relative paths resolve). None if there is no such
    file and `required` is false; FileNotFoundError if it is required."""
    path = code_dir / program
    module_dir, name = path.parent, path.name.removesuffix(".py")
    exists = (module_dir / f"{name}.py").is_file() or (module_dir / name / "__init__.py").is_file()
    if not exists:
        if required:
            raise FileNotFoundError(
                f"SAGEMAKER_PROGRAM is {program!r} but there is no {name}.py in {module_dir}"
            )
        return None
    sys.path.insert(0, str(module_dir))
    os.chdir(module_dir)
    return importlib.import_module(name)


class _Server:
    """The HTTP face of a HandlerChain."""

    def __init__(self, chain: HandlerChain, timeout_s: float) -> None:
        self.chain = chain
        self.timeout_s = timeout_s
        self._lock = asyncio.Lock()
        # One worker thread: handlers (torch, user code) need not be thread-safe.
        self._worker = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="inference")

    async def ping(self, request: Request) -> Response:
        return Response(status_code=200)

    async def invocations(self, request: Request) -> Response:
        body = await request.body()
        async with self._lock:
            future = self._worker.submit(self.chain.transform, body, dict(request.headers))
            try:
                outcome = await asyncio.wait_for(asyncio.wrap_future(future), self.timeout_s)
            except TimeoutError:
                message = (
                    f"The model did not answer within SAGEMAKER_MODEL_SERVER_TIMEOUT="
                    f"{self.timeout_s:g} seconds; restarting the worker."
                )
                print(message, file=sys.stderr, flush=True)
                return Response(
                    message, 500, media_type="text/plain", background=BackgroundTask(_exit_now)
                )
        response = Response(outcome.body, outcome.status, headers=outcome.headers)
        response.headers["content-type"] = outcome.content_type
        return response

    async def execution_parameters(self, request: Request) -> Response:
        try:
            parameters = self.chain.execution_parameters()
        except Exception as exc:
            return Response(f"{exc}\n{traceback.format_exc()}", 500, media_type="text/plain")
        if parameters is None:
            return Response(status_code=404)
        if isinstance(parameters, Response):
            return parameters
        return Response(to_bytes(parameters), 200, media_type=JSON)


def _exit_now() -> None:
    # The stuck handler thread cannot be interrupted; only a new process frees the model.
    os._exit(_TIMEOUT_EXIT)


def create_app(chain: HandlerChain, timeout_s: float = DEFAULT_TIMEOUT_S) -> Starlette:
    """The Starlette app serving a loaded HandlerChain."""
    server = _Server(chain, timeout_s)
    return Starlette(
        routes=[
            Route("/ping", server.ping, methods=["GET"]),
            Route("/invocations", server.invocations, methods=["POST"]),
            Route("/execution-parameters", server.execution_parameters, methods=["GET"]),
        ]
    )


def build_chain(
    model_dir: Path,
    code_dir: Path,
    framework: str | None,
    environ: Mapping[str, str],
) -> HandlerChain:
    """Import the user's module and load the model, as the container does before it serves."""
    program = environ.get("SAGEMAKER_PROGRAM") or DEFAULT_PROGRAM
    module = load_user_module(code_dir, program, required="SAGEMAKER_PROGRAM" in environ)
    default_accept = environ.get("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT") or JSON
    chain = HandlerChain(module, defaults_for(framework), str(model_dir), default_accept)
    chain.load()
    return chain


def _code_dir(model_dir: Path, given: Path | None, environ: Mapping[str, str]) -> Path:
    if given is not None:
        return given
    submitted = environ.get("SAGEMAKER_SUBMIT_DIRECTORY", "")
    # Usually an s3:// URI of the source tarball; a local directory is the extracted code.
    if submitted and "://" not in submitted and Path(submitted).is_dir():
        return Path(submitted)
    return model_dir / "code"


def main(argv: list[str] | None = None) -> int:
    environ = os.environ
    parser = argparse.ArgumentParser(prog="python -m tule.runtime.inference_toolkit")
    parser.add_argument("--model-dir", type=Path, default=Path("/opt/ml/model"))
    parser.add_argument("--code-dir", type=Path, default=None)
    parser.add_argument("--framework", default=environ.get("TULE_FRAMEWORK") or None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument(
        "--port", type=int, default=int(environ.get("SAGEMAKER_BIND_TO_PORT") or DEFAULT_PORT)
    )
    args = parser.parse_args(argv)
    model_dir = args.model_dir.resolve()
    code_dir = _code_dir(model_dir, args.code_dir, environ).resolve()
    try:
        timeout_s = float(environ.get("SAGEMAKER_MODEL_SERVER_TIMEOUT") or DEFAULT_TIMEOUT_S)
        chain = build_chain(model_dir, code_dir, args.framework, environ)
    except Exception as exc:
        traceback.print_exc()
        # Last, so that it is the line a failed endpoint's FailureReason quotes.
        print(f"Inference server failed to start: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    import uvicorn

    print(f"Model loaded from {model_dir}; serving on port {args.port}", flush=True)
    uvicorn.run(create_app(chain, timeout_s), host=args.host, port=args.port, log_level="warning")
    return 0


if __name__ == "__main__":
    sys.exit(main())
