"""Per-shape JSON converters, compiled once: the fast path of `json.from_json` and `to_json`.

The model is static, yet walking botocore's `Shape` objects per request (their properties build
dicts on access) cost most of a hot request's CPU: 500 Kinesis records meant ~1,500 shape walks
each way. Each shape is compiled once into a closure over plain tuples, which converts the
common, well-formed value without building member paths or consulting the model.

A compiled converter only ever answers what the reference conversion would: when it meets
anything else (a wrong type, a bad base64 text, an out-of-range number, a value of a kind it
does not expect) it gives up, and the caller runs the reference conversion, which raises the
exact error naming the member at fault. Conversions are pure, so running both is harmless.

Shapes are keyed by identity: botocore builds a new `Shape` for each reference, so a recursive
shape is a chain of distinct objects, and a member that recurses is compiled only when a value
first reaches it.
"""

from __future__ import annotations

import binascii
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from botocore.model import Shape

from tule.aws import generated
from tule.aws.protocols.common import (
    INT_RANGES,
    format_timestamp,
    timestamp_format,
    timestamp_or_none,
)
from tule.aws.shape_cache import PerShape
from tule.wire import Verbatim

Convert = Callable[[Any], Any]

_from_timestamp = datetime.fromtimestamp


class Unusual(Exception):
    """A value the compiled converter leaves to the reference conversion."""


# -- request: decoded JSON -> the shape's Python form ------------------------------------------


def input_converter(shape: Shape) -> Convert | None:
    """The compiled converter for a non-null value of `shape`; None when no compiled one is
    built for its kind (the caller uses the reference conversion)."""
    return _INPUT.get(shape)


def _input_member(shape: Shape, compiling: frozenset[str]) -> tuple[type | tuple, Convert | None]:
    """(types accepted as they are, converter): a string or boolean member needs only a type
    check; any other member a converter."""
    t = shape.type_name
    if t == "string":
        return str, None
    if t == "boolean":
        return bool, None
    if t == "structure" and shape.is_document_type:
        return (), _document_input
    convert = _INPUT.member(shape, compiling)
    if convert is None:
        return (), _unusual
    return (), convert


def _input_stand_in(get: Callable[[], Convert | None]) -> Convert:
    def convert(value: Any) -> Any:
        compiled = get()
        if compiled is None:
            raise Unusual
        return compiled(value)

    return convert


def _unusual(value: Any) -> Any:
    raise Unusual


def _compile_input(shape: Shape, compiling: frozenset[str]) -> Convert | None:
    t = shape.type_name
    inner = compiling | {shape.name}
    if t == "structure":
        if shape.is_document_type:
            return _document_input
        members = tuple(
            (name, *_input_member(member, inner)) for name, member in shape.members.items()
        )
        return _structure_input(members)
    if t == "list":
        kind, item = _input_member(shape.member, inner)
        return _list_input(kind, item)
    if t == "map":
        kind, item = _input_member(shape.value, inner)
        return _map_input(kind, item)
    if t == "string":
        return _typed(str)
    if t == "boolean":
        return _typed(bool)
    if t in INT_RANGES:
        low, high = INT_RANGES[t]
        return _integer_input(low, high)
    if t in ("float", "double"):
        return _number_input
    if t == "blob":
        return _blob_input
    if t == "timestamp":
        return _timestamp_input
    return None  # kinds no model uses for input: the reference conversion


def _document_input(value: Any) -> Any:
    """A document (free-form JSON, Glue's Iceberg field types) passes as it came, but one that
    holds a float is refused: orjson reads integers beyond 64 bits as floats, and only the
    stdlib decoder keeps them whole."""
    if isinstance(value, float):
        raise Unusual
    if isinstance(value, dict):
        for v in value.values():
            _document_input(v)
    elif isinstance(value, list):
        for v in value:
            _document_input(v)
    return value


def _typed(kind: type) -> Convert:
    def convert(value: Any) -> Any:
        if not isinstance(value, kind):
            raise Unusual
        return value

    return convert


def _structure_input(members: tuple[tuple[str, type | tuple, Convert | None], ...]) -> Convert:
    # Generated straight-line code (see `tule.aws.generated`): per member, a look-up and
    # either a type check or its converter's call.
    namespace: dict[str, Any] = {"Unusual": Unusual}
    body = [
        "if not isinstance(value, dict):",
        "    raise Unusual",
        "out = {}",
        "if not value:",
        "    return out",
        "get = value.get",
    ]
    for i, (name, kind, sub) in enumerate(members):
        key = generated.literal(name)
        body += [f"v = get({key})", "if v is not None:"]
        if sub is None:
            namespace[f"kind{i}"] = kind
            body += [f"    if not isinstance(v, kind{i}):", "        raise Unusual"]
            body.append(f"    out[{key}] = v")
        else:
            namespace[f"sub{i}"] = sub
            body.append(f"    out[{key}] = sub{i}(v)")
    body.append("return out")
    return generated.function("convert", "value", body, namespace)


def _list_input(kind: type | tuple, item: Convert | None) -> Convert:
    if item is None:

        def convert_scalars(value: Any) -> list[Any]:
            if not isinstance(value, list):
                raise Unusual
            for v in value:
                if v is not None and not isinstance(v, kind):
                    raise Unusual
            return list(value)

        return convert_scalars

    def convert(value: Any) -> list[Any]:
        if not isinstance(value, list):
            raise Unusual
        return [None if v is None else item(v) for v in value]

    return convert


def _map_input(kind: type | tuple, item: Convert | None) -> Convert:
    def convert(value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise Unusual
        out: dict[str, Any] = {}
        for k, v in value.items():
            if v is None:
                out[str(k)] = None
            elif item is None:
                if not isinstance(v, kind):
                    raise Unusual
                out[str(k)] = v
            else:
                out[str(k)] = item(v)
        return out

    return convert


def _integer_input(low: int, high: int) -> Convert:
    def convert(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise Unusual
        return value

    return convert


def _number_input(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Unusual
    return float(value)


def _blob_input(value: Any) -> bytes:
    # What base64.b64decode(value, validate=True) does, without its Python-level steps.
    if not isinstance(value, str):
        raise Unusual
    return binascii.a2b_base64(value, strict_mode=True)


def _timestamp_input(value: Any) -> datetime:
    dt = timestamp_or_none(value)
    if dt is None:
        raise Unusual
    return dt


# -- response: a handler's Python value -> its JSON form ---------------------------------------


def output_converter(shape: Shape) -> Convert | None:
    """The compiled converter for a non-null value of `shape`; None when the value is written
    as it is (strings, numbers of integer kinds, booleans, documents)."""
    return _OUTPUT.get(shape)


def _output_stand_in(get: Callable[[], Convert | None]) -> Convert:
    def convert(value: Any) -> Any:
        compiled = get()
        return value if compiled is None else compiled(value)

    return convert


def _compile_output(shape: Shape, compiling: frozenset[str]) -> Convert | None:
    t = shape.type_name
    inner = compiling | {shape.name}
    if t == "structure":
        if shape.is_document_type:
            return None
        members = tuple(
            (name, _OUTPUT.member(member, inner)) for name, member in shape.members.items()
        )
        return _structure_output(members)
    if t == "list":
        return _list_output(_OUTPUT.member(shape.member, inner))
    if t == "map":
        return _map_output(_OUTPUT.member(shape.value, inner))
    if t == "blob":
        return _blob_output
    if t == "timestamp":
        return _timestamp_output(timestamp_format(shape, "unixTimestamp"))
    if t in ("float", "double"):
        return float
    return None


def _structure_output(members: tuple[tuple[str, Convert | None], ...]) -> Convert:
    # Generated straight-line code, as `_structure_input`'s.
    namespace: dict[str, Any] = {}
    body = ["get = value.get", "out = {}"]
    for i, (name, sub) in enumerate(members):
        key = generated.literal(name)
        body += [f"v = get({key})", "if v is not None:"]
        if sub is None:
            body.append(f"    out[{key}] = v")
        else:
            namespace[f"sub{i}"] = sub
            body.append(f"    out[{key}] = sub{i}(v)")
    body.append("return out")
    return generated.function("convert", "value", body, namespace)


def _list_output(item: Convert | None) -> Convert:
    if item is None:
        return list

    def convert(value: Any) -> list[Any]:
        if value.__class__ is Verbatim:
            return value  # type: ignore[no-any-return]
        return [item(v) for v in value]

    return convert


def _map_output(item: Convert | None) -> Convert:
    if item is None:
        return _map_as_is

    def convert(value: Any) -> dict[Any, Any]:
        return {k: item(v) for k, v in value.items()}

    return convert


def _map_as_is(value: Any) -> dict[Any, Any]:
    return dict(value.items())


def _blob_output(value: Any) -> str:
    raw = value if isinstance(value, bytes) else str(value).encode()
    return binascii.b2a_base64(raw, newline=False).decode("ascii")


def _timestamp_output(fmt: str) -> Convert:
    if fmt != "unixTimestamp":
        return lambda value: format_timestamp(value, fmt)
    # The last float seen and its answer: the records of one GetRecords page mostly share
    # their arrival millisecond. One tuple, swapped whole, so threads never see half of one.
    last: list[tuple[Any, Any]] = [(None, None)]

    def convert(value: Any) -> Any:
        # format_timestamp's steps for the JSON protocols' epoch seconds, inlined: the value is
        # still passed through a datetime, so the rounding is the reference's to the bit.
        if value.__class__ is float:
            seen, answer = last[0]
            if value == seen:
                return answer
            answer = round(_from_timestamp(value, UTC).timestamp(), 3)
            last[0] = (value, answer)
            return answer
        if isinstance(value, datetime):
            dt = value if value.tzinfo else value.replace(tzinfo=UTC)
        else:
            dt = _from_timestamp(float(value), UTC)
        return round(dt.timestamp(), 3)

    return convert


_INPUT: PerShape[Convert] = PerShape(_compile_input, _input_stand_in)
_OUTPUT: PerShape[Convert] = PerShape(_compile_output, _output_stand_in)
