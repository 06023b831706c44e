"""The baseline of the endpoint benchmark: a bare Starlette app answering a JSON POST with a
10-weight dot product (specs/performance.md §4), run under uvicorn with uvloop and httptools."""

from __future__ import annotations

import json

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

WEIGHTS = [0.1 * i for i in range(10)]


async def home(request: Request) -> Response:
    return PlainTextResponse("ok")


async def invocations(request: Request) -> Response:
    rows = json.loads(await request.body())["instances"]
    scores = [sum(w * v for w, v in zip(WEIGHTS, row, strict=False)) for row in rows]
    return Response(json.dumps({"predictions": scores}), media_type="application/json")


app = Starlette(routes=[Route("/", home), Route("/invocations", invocations, methods=["POST"])])
