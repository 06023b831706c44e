"""XML <-> shape conversion as botocore's rest-xml and query protocols lay data out."""

from __future__ import annotations

import re
from typing import Any
from xml.etree import ElementTree as ET
from xml.parsers import expat

from botocore.model import Shape

from tule.aws.protocols.common import WireError, scalar_from_text, scalar_to_text


def parse_document(body: bytes, error_code: str = "MalformedXML") -> ET.Element:
    """Parse untrusted XML; a document type declaration is refused outright, so no entity is
    ever declared or expanded (billion laughs, external entities), whatever the encoding."""
    message = (
        "The XML you provided was not well-formed or did not validate against our published schema"
    )
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body or _declares_dtd(body):
        raise WireError(error_code, message)
    try:
        return ET.fromstring(body)
    except (ET.ParseError, ValueError, LookupError):  # LookupError: an unknown encoding
        raise WireError(error_code, message) from None


class _DoctypeFound(Exception):
    pass


def _refuse_doctype(*_: object) -> None:
    raise _DoctypeFound


def _declares_dtd(body: bytes) -> bool:
    """Whether the document declares a DTD, in any encoding (the byte check above sees only
    UTF-8 and ASCII ones). The scan stops at the declaration, before any entity is read."""
    scanner = expat.ParserCreate()
    scanner.StartDoctypeDeclHandler = _refuse_doctype
    try:
        scanner.Parse(body, True)
    except _DoctypeFound:
        return True
    except (expat.ExpatError, ValueError, LookupError):
        return False  # not well-formed: the parse that follows says so
    return False


def local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def xml_name(shape: Shape, member_name: str) -> str:
    """The element name botocore uses for a structure member (flattened lists use their
    member's name when it has one)."""
    if shape.type_name == "list" and shape.serialization.get("flattened"):
        inner = shape.member.serialization.get("name")
        if inner:
            return inner
    return shape.serialization.get("name", member_name)


def from_xml(shape: Shape, node: ET.Element, path: str) -> Any:
    """Decode an element into the shape's Python form."""
    t = shape.type_name
    if t == "structure":
        children: dict[str, list[ET.Element]] = {}
        for child in node:
            children.setdefault(local(child.tag), []).append(child)
        out: dict[str, Any] = {}
        for name, member in shape.members.items():
            if member.serialization.get("xmlAttribute"):
                attr = member.serialization.get("name", name)
                for k, v in node.attrib.items():
                    if local(k) == attr.split(":")[-1]:
                        out[name] = v
                continue
            nodes = children.get(xml_name(member, name))
            if not nodes:
                continue
            sub = f"{path}.{name}" if path else name
            if member.type_name == "list" and member.serialization.get("flattened"):
                out[name] = [from_xml(member.member, n, sub) for n in nodes]
            elif member.type_name == "map" and member.serialization.get("flattened"):
                out[name] = _map_entries(member, nodes, sub)
            else:
                out[name] = from_xml(member, nodes[0], sub)
        return out
    if t == "list":
        inner = shape.member.serialization.get("name", "member")
        return [from_xml(shape.member, c, path) for c in node if local(c.tag) == inner]
    if t == "map":
        return _map_entries(shape, [c for c in node if local(c.tag) == "entry"], path)
    return scalar_from_text(shape, node.text or "", path)


def _map_entries(shape: Shape, entries: list[ET.Element], path: str) -> dict[str, Any]:
    key_name = shape.key.serialization.get("name", "key")
    value_name = shape.value.serialization.get("name", "value")
    out: dict[str, Any] = {}
    for entry in entries:
        k = v = None
        for c in entry:
            if local(c.tag) == key_name:
                k = c.text or ""
            elif local(c.tag) == value_name:
                v = from_xml(shape.value, c, path)
        if k is not None:
            out[k] = v
    return out


def to_xml(shape: Shape, value: Any, tag: str, parent: ET.Element | None = None) -> ET.Element:
    """Encode a value as an element named `tag` (appended to `parent` when given)."""
    node = ET.Element(tag) if parent is None else ET.SubElement(parent, tag)
    fill(shape, value, node)
    return node


def fill(shape: Shape, value: Any, node: ET.Element) -> None:
    t = shape.type_name
    ns = shape.serialization.get("xmlNamespace")
    if isinstance(ns, dict) and ns.get("prefix"):
        # declare the prefix its attributes use (S3's Grantee `xsi:type`), or the XML is invalid
        node.set(f"xmlns:{ns['prefix']}", ns["uri"])
    if t == "structure":
        for name, member in shape.members.items():
            v = value.get(name)
            if v is None or member.serialization.get("location"):
                continue
            if member.serialization.get("xmlAttribute"):
                node.set(member.serialization.get("name", name), scalar_to_text(member, v))
                continue
            el_name = xml_name(member, name)
            if member.type_name == "list" and member.serialization.get("flattened"):
                for item in v:
                    to_xml(member.member, item, el_name, node)
            elif member.type_name == "map" and member.serialization.get("flattened"):
                for k, item in v.items():
                    _entry(member, k, item, ET.SubElement(node, el_name))
            else:
                to_xml(member, v, el_name, node)
    elif t == "list":
        inner = shape.member.serialization.get("name", "member")
        for item in value:
            to_xml(shape.member, item, inner, node)
    elif t == "map":
        for k, item in value.items():
            _entry(shape, k, item, ET.SubElement(node, "entry"))
    else:
        node.text = scalar_to_text(shape, value)


def _entry(shape: Shape, key: str, value: Any, node: ET.Element) -> None:
    ET.SubElement(node, shape.key.serialization.get("name", "key")).text = str(key)
    to_xml(shape.value, value, shape.value.serialization.get("name", "value"), node)


# Characters XML 1.0 cannot carry at all, not even as character references (C0 controls but
# tab, LF and CR; U+FFFE/U+FFFF; lone surrogates). ElementTree writes them as they are, and the
# document then fails to parse in every client.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml_safe(text: str | None) -> str | None:
    return _NOT_XML.sub("\ufffd", text) if text and _NOT_XML.search(text) else text


def dumps(root: ET.Element) -> bytes:
    for el in root.iter():
        el.text, el.tail = _xml_safe(el.text), _xml_safe(el.tail)
        for name, value in el.attrib.items():
            el.attrib[name] = _xml_safe(value) or ""
    body = ET.tostring(root, encoding="utf-8", xml_declaration=False)
    # A raw CR would be read back as LF (XML end-of-line handling); S3 writes it as `&#13;`.
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + body.replace(b"\r", b"&#13;")
