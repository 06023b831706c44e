"""`serve`: the inference HTTP contract of a SageMaker container, for one model directory.

`GET /ping` answers 200 once the model is loaded; `POST /invocations` runs
`tule.algorithms.inference.invoke` with the request's Content-Type and Accept; and
`GET /execution-parameters` tells batch transform how to call us (the IM containers answer
`MaxConcurrentTransforms` = CPU count, `BatchStrategy` MULTI_RECORD, `MaxPayloadInMB` 6).
`SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT` overrides the default response type, as in the
XGBoost container.
"""

from __future__ import annotations

import os
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tule.algorithms.base import Algorithm, TrainedModel
from tule.algorithms.container import instantiate
from tule.algorithms.inference import InferenceError, invoke

# Larger requests are answered on a worker thread, so several (batch transform's concurrent
# requests) decode and predict at once, both of which release the GIL; small ones inline, where
# a thread hop would cost more than the prediction.
INLINE_BODY_BYTES = 64 * 1024
# Environment variables the built-in containers read as inference options.
CONTAINER_SETTINGS = ("SAGEMAKER_INFERENCE_OUTPUT",)


class ModelServer:
    """A loaded model and the algorithm that answers for it."""

    def __init__(self, model_dir: Path, algorithm: Algorithm) -> None:
        self.algorithm = algorithm
        self.model: TrainedModel = algorithm.model_class.load(Path(model_dir))
        self.default_accept = os.environ.get("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT")
        # Container-wide output selection, as the XGBoost container reads it from its env.
        self.settings = {
            name: os.environ[name] for name in CONTAINER_SETTINGS if os.environ.get(name)
        }

    async def ping(self, request: Request) -> Response:
        return Response(status_code=200)

    async def execution_parameters(self, request: Request) -> Response:
        return JSONResponse(
            {
                "MaxConcurrentTransforms": os.cpu_count() or 1,
                "BatchStrategy": "MULTI_RECORD",
                "MaxPayloadInMB": 6,
            }
        )

    async def invocations(self, request: Request) -> Response:
        body = await request.body()
        accept = request.headers.get("accept")
        if (not accept or accept.strip() == "*/*") and self.default_accept:
            accept = self.default_accept
        arguments = (
            self.model,
            self.algorithm,
            body,
            request.headers.get("content-type"),
            accept,
            self.settings,
        )
        try:
            if len(body) > INLINE_BODY_BYTES:
                payload, content_type = await run_in_threadpool(invoke, *arguments)
            else:
                payload, content_type = invoke(*arguments)
        except InferenceError as exc:
            if exc.status == 204:
                return Response(status_code=204)
            return Response(exc.message, status_code=exc.status, media_type="text/plain")
        return Response(payload, media_type=content_type)


def create_app(
    model_dir: Path, algorithm: str | Algorithm | type[Algorithm], *, version: str | None = None
) -> Starlette:
    """The Starlette app serving `model_dir` (algorithm by name, image URI, class or instance)."""
    instance = instantiate(algorithm, version)
    server = ModelServer(Path(model_dir), instance)
    return Starlette(
        routes=[
            Route("/ping", server.ping, methods=["GET"]),
            Route("/invocations", server.invocations, methods=["POST"]),
            Route("/execution-parameters", server.execution_parameters, methods=["GET"]),
        ]
    )


def serve(
    model_dir: Path,
    algorithm: str,
    *,
    host: str = "0.0.0.0",
    port: int = 8080,
    version: str | None = None,
) -> None:
    """Run the server until interrupted (what `docker run <image> serve` does)."""
    import uvicorn

    uvicorn.run(
        create_app(model_dir, algorithm, version=version),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        loop="uvloop",
        http="httptools",
    )
