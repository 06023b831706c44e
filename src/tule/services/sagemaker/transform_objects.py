"""Which S3 objects a transform job reads and writes: manifest entries and `.out` keys.

Inputs (spec §5.2 point 1): `S3Prefix` names every object under a key prefix; `ManifestFile`
names a JSON array `[{"prefix": "s3://b/p/"}, "rel1", "rel2", ...]` whose entries are joined to
the prefix as they are (no "/" added, as for training channels).

Outputs (spec §5.2 point 8): each input object's results go to
`<S3OutputPath>/<input key relative to the input>.out`. AWS's own example for this rule is
inconsistent, so we use the rule training channels already follow in tule (`channels.py`) and
that users observe: for `S3Prefix`, the key relative to the prefix's directory (its part up to
the last "/"), so prefix `data/test` puts `data/test/a.csv` at `test/a.csv.out` and a prefix
that names one object, `data/a.csv`, gives `a.csv.out`; for `ManifestFile`, the entry as the
manifest lists it (relative to the manifest's prefix exactly).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from tule.services.sagemaker.channels import ChannelError, parse_s3_uri
from tule.services.sagemaker.transform_records import TransformConfigError, TransformDataError

__all__ = ["Manifest", "manifest_keys", "output_key", "parse_manifest"]

OUT_SUFFIX = ".out"


@dataclass(frozen=True)
class Manifest:
    """A parsed manifest: its prefix URI and the full URIs of the objects it lists, in order."""

    prefix: str
    uris: list[str]


def parse_manifest(manifest_json: bytes) -> Manifest:
    """Read a ManifestFile; raises TransformDataError saying what is wrong with it."""
    try:
        entries = json.loads(manifest_json)
    except ValueError as exc:
        raise TransformDataError(f"the manifest file is not valid JSON: {exc}") from None
    if (
        not isinstance(entries, list)
        or not entries
        or not isinstance(entries[0], dict)
        or not isinstance(entries[0].get("prefix"), str)
    ):
        raise TransformDataError(
            'the manifest file must be a JSON array whose first element is {"prefix": '
            '"s3://bucket/prefix/"}'
        )
    prefix = entries[0]["prefix"]
    try:
        parse_s3_uri(prefix)
    except ChannelError:
        raise TransformDataError(f'the manifest prefix "{prefix}" is not an S3 URI') from None
    uris = []
    for position, entry in enumerate(entries[1:], start=2):
        if not isinstance(entry, str) or not entry:
            raise TransformDataError(f"manifest element {position} is not a non-empty string")
        uris.append(prefix + entry)
    if not uris:
        raise TransformDataError("the manifest file lists no objects")
    return Manifest(prefix, uris)


def manifest_keys(manifest_json: bytes) -> list[str]:
    """The S3 URIs a ManifestFile lists, prefix joined to each entry."""
    return parse_manifest(manifest_json).uris


def output_key(
    input_uri_prefix: str, s3_data_type: str, input_key: str, output_path: str
) -> tuple[str, str]:
    """(bucket, key) of the `.out` object for the input object `input_key`.

    `input_uri_prefix` is the job's S3Uri for `S3Prefix`, or the manifest's `prefix` for
    `ManifestFile`; `output_path` is TransformOutput.S3OutputPath."""
    try:
        _, prefix_key = parse_s3_uri(input_uri_prefix)
        out_bucket, out_prefix = parse_s3_uri(output_path)
    except ChannelError as exc:
        raise TransformConfigError(str(exc)) from None
    base = prefix_key if s3_data_type == "ManifestFile" else prefix_key[: prefix_key.rfind("/") + 1]
    if not input_key.startswith(base):
        raise TransformDataError(f'object key "{input_key}" is not under "{input_uri_prefix}"')
    relative = input_key[len(base) :]
    if out_prefix and not out_prefix.endswith("/"):
        out_prefix += "/"
    return out_bucket, out_prefix + relative + OUT_SUFFIX
