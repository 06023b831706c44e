"""A processing job's data: its ProcessingInputs copied in, its ProcessingOutputs copied out.

Each `S3Input` is resolved like a training channel (`channels.resolve`: every object under an
S3Prefix, or the keys a ManifestFile lists), each object keeping its key below the prefix as
its path under LocalPath (`_below_prefix`), split between instances under `ShardedByS3Key`
(`channels.shard`), and downloaded into the input's LocalPath of each instance before any
process starts (specs §5.5).

`S3CompressionType: Gzip` is documented for Pipe mode only, which tule does not offer; rather
than reject it, tule decompresses each object as it lands in File mode and drops a `.gz` suffix
from its name, which is what a Pipe-mode reader would have seen.

Each `S3Output`'s LocalPath exists when the process starts. Its files go to
`<S3Uri>/<path below LocalPath>` (`artifacts.Checkpoints` does the folder-to-prefix sync):
`EndOfJob` once the job has succeeded, `Continuous` every few seconds while it runs and once
more at the end. Several instances upload to the same prefix, the last write of a key winning,
as on SageMaker.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import zlib
from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import Any

from tule.runtime.workspace import Workspace
from tule.services.sagemaker import channels
from tule.services.sagemaker.artifacts import Checkpoints

# Decompression reads and writes this much at a time.
_CHUNK = 1 << 20


class DataError(Exception):
    """A client error in the job's inputs or outputs; str(e) is the FailureReason."""


def input_dirs(inputs: list[dict[str, Any]], ws: Workspace) -> list[Path]:
    """Every input's LocalPath in the workspace (what is downloaded or app-managed)."""
    paths = []
    for item in inputs:
        local = (item.get("S3Input") or item.get("DatasetDefinition") or {}).get("LocalPath")
        if local:
            paths.append(ws.map_container_path(local))
    return paths


def download_inputs(
    s3: Any, inputs: list[dict[str, Any]], workspaces: list[Workspace], region: str, role: str
) -> int:
    """Copy every S3Input into each instance's LocalPath; returns the number of files."""
    files = 0
    for item in inputs:
        name = item["InputName"]
        if "DatasetDefinition" in item:
            raise DataError(
                f'ClientError: Input "{name}" uses a DatasetDefinition (Athena or Redshift), '
                "which tule does not support. Run the query first and give its S3 results as "
                "an S3Input."
            )
        source = item["S3Input"]
        for ws in workspaces:
            ws.map_container_path(source["LocalPath"]).mkdir(parents=True, exist_ok=True)
        if item.get("AppManaged"):
            continue  # the application fetches its own data
        channel = {
            "ChannelName": name,
            "DataSource": {
                "S3DataSource": {"S3DataType": source["S3DataType"], "S3Uri": source["S3Uri"]}
            },
        }
        try:
            objects = channels.resolve(s3, channel, region=region, role_arn=role)
            if source["S3DataType"] == "S3Prefix":
                prefix = channels.parse_s3_uri(source["S3Uri"])[1]
                objects = [_below_prefix(obj, prefix) for obj in objects]
            for i, ws in enumerate(workspaces):
                share = channels.shard(
                    objects, source.get("S3DataDistributionType"), i, len(workspaces)
                )
                target = ws.map_container_path(source["LocalPath"])
                channels.download(s3, share, target)
                if source.get("S3CompressionType") == "Gzip":
                    for obj in share:
                        _gunzip(target.joinpath(*PurePosixPath(obj.relative_path).parts), obj.url)
                files += len(share)
        except channels.ChannelError as exc:
            raise DataError(str(exc)) from None
    return files


def _below_prefix(obj: channels.SourceObject, prefix: str) -> channels.SourceObject:
    """Where an object of an S3Prefix input goes: its key below the prefix when the prefix
    names a folder (the SDK uploads a local folder to `s3://bucket/<job>/input/<name>` and
    scripts read `<LocalPath>/<file>`), its base name when the prefix is the object's whole
    key, and otherwise (a prefix ending mid-name) its key below the prefix's last "/", as for
    training channels."""
    rest = obj.key[len(prefix) :]
    if prefix.endswith("/") or rest.startswith("/"):
        return replace(obj, relative_path=rest.lstrip("/"))
    if not rest:
        return replace(obj, relative_path=PurePosixPath(obj.key).name)
    return obj


def _gunzip(path: Path, url: str) -> None:
    """Replace a downloaded gzip file by its content (named without `.gz`)."""
    target = path.with_name(path.name.removesuffix(".gz")) if path.name != ".gz" else path
    part = path.with_name(f".tule-{path.name}.part")
    try:
        with gzip.open(path, "rb") as src, open(part, "wb") as out:
            while chunk := src.read(_CHUNK):
                out.write(chunk)
    except (OSError, EOFError, zlib.error) as exc:
        with contextlib.suppress(OSError):
            part.unlink()
        raise DataError(
            f'ClientError: S3 object "{url}" could not be decompressed with S3CompressionType '
            f"Gzip: {exc}."
        ) from None
    path.unlink()
    os.replace(part, target)


class Outputs:
    """The ProcessingOutputs of one job on all of its instances."""

    def __init__(self, s3: Any, outputs: list[dict[str, Any]], workspaces: list[Workspace]):
        self.syncs: list[tuple[str, str, Checkpoints]] = []  # (name, upload mode, sync)
        self.unsupported: list[str] = []
        for item in outputs:
            name = item["OutputName"]
            if "FeatureStoreOutput" in item:
                self.unsupported.append(name)
                continue
            target = item["S3Output"]
            if item.get("AppManaged"):
                continue  # the application writes its own output
            for ws in workspaces:
                local = ws.map_container_path(target["LocalPath"])
                local.mkdir(parents=True, exist_ok=True)
                try:
                    sync = Checkpoints(s3, target["S3Uri"], local)
                except channels.ChannelError as exc:
                    raise DataError(f'ClientError: Output "{name}": {exc}') from None
                self.syncs.append((name, target["S3UploadMode"], sync))

    def check(self) -> None:
        """Fail before starting for outputs tule cannot deliver."""
        if self.unsupported:
            raise DataError(
                f'ClientError: Output "{self.unsupported[0]}" is a FeatureStoreOutput, which '
                "tule does not support (it has no Feature Store). Use an S3Output."
            )

    def start(self) -> None:
        """Begin uploading Continuous outputs while the job runs."""
        for _, mode, sync in self.syncs:
            if mode == "Continuous":
                sync.start()

    def close(self) -> None:
        """End any continuous upload still running (a run that ended early); idempotent."""
        for _, mode, sync in self.syncs:
            if mode == "Continuous":
                with contextlib.suppress(Exception):
                    sync.close()

    def finish(self, succeeded: bool) -> None:
        """Stop the continuous uploads (a last pass included), and upload EndOfJob outputs
        when the job succeeded."""
        for name, mode, sync in self.syncs:
            try:
                if mode == "Continuous":
                    sync.close()
                elif succeeded:
                    sync.upload_changed()
            except Exception as exc:
                code = getattr(exc, "code", type(exc).__name__)
                uri = f"s3://{sync.bucket}/{sync.prefix}"
                raise DataError(
                    f'ClientError: could not upload output "{name}" to {uri}: {code}'
                ) from None
