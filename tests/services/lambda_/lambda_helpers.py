"""Helpers the Lambda tests share: deployment packages built in the test, and function
creation through boto3."""

from __future__ import annotations

import io
import json
import textwrap
import uuid
import zipfile
from typing import Any

ROLE = "arn:aws:iam::000000000000:role/lambda-role"
ACCOUNT = "000000000000"
REGION = "us-east-1"


def package(files: dict[str, str]) -> bytes:
    """A zip holding `files` (name -> source, dedented)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, source in files.items():
            archive.writestr(name, textwrap.dedent(source))
    return buffer.getvalue()


def handler_zip(source: str, module: str = "app") -> bytes:
    """A package with one module, `app.py` by default."""
    return package({f"{module}.py": source})


def unique(prefix: str = "fn") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def create(client: Any, source: str, name: str | None = None, **options: Any) -> str:
    """Create a python3.12 function running `app.handler` from `source`; returns its name."""
    name = name or unique()
    options.setdefault("Runtime", "python3.12")
    options.setdefault("Handler", "app.handler")
    options.setdefault("Code", {"ZipFile": handler_zip(source)})
    client.create_function(FunctionName=name, Role=ROLE, **options)
    return name


def invoke_json(client: Any, name: str, payload: bytes = b"{}", **options: Any) -> tuple[dict, Any]:
    """Invoke and return (the response without its stream, the decoded JSON payload)."""
    response = client.invoke(FunctionName=name, Payload=payload, **options)
    body = response.pop("Payload").read()
    return response, json.loads(body) if body else None


ECHO = """
def handler(event, context):
    return event
"""
