"""A model's artifacts on local disk: what SageMaker puts in `/opt/ml/model` before a container
starts (specs/aws-apis.md §4.1, §4.8).

`ModelDataUrl` (or `ModelDataSource.S3DataSource` with `S3Object` + `Gzip`) names a tar.gz that
is extracted; `S3Prefix` + `None` copies every object under the prefix. Prepared folders are
cached by (URI, ETag) under the domain's folder and shared, read-mostly, by every instance of
every endpoint and transform job using the same artifacts; a new upload under the same key has a
new ETag and so gets a new folder. Script-mode source archives (`SAGEMAKER_SUBMIT_DIRECTORY`
as an S3 URI) are prepared the same way.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

from tule.runtime.archive import ArchiveError, extract_tar_gz
from tule.services.sagemaker.channels import ChannelError, parse_s3_uri


class ModelDataError(Exception):
    """The artifacts could not be prepared; str(e) is the FailureReason."""


def _download_failure(uri: str) -> ModelDataError:
    try:
        bucket, key = parse_s3_uri(uri)
    except ChannelError:
        bucket, key = "", uri
    return ModelDataError(
        f"Failed to download model data(bucket: {bucket}, key: {key}). Please ensure that "
        "there is an object located at the URL and that the role passed to CreateModel has "
        "permissions to download the model."
    )


class ModelData:
    """Prepares model artifacts once per (URI, ETag)."""

    def __init__(self, s3: Any, cache_dir: Path) -> None:
        self.s3 = s3
        self.cache_dir = cache_dir
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def model_dir(self, container: dict[str, Any]) -> Path:
        """The folder holding this container's model (empty when it names none)."""
        source = (container.get("ModelDataSource") or {}).get("S3DataSource")
        if source:
            uri = source["S3Uri"]
            if source.get("S3DataType") == "S3Prefix":
                if source.get("CompressionType") == "Gzip":
                    raise ModelDataError(
                        "ModelDataSource with S3DataType S3Prefix must have CompressionType None."
                    )
                return self._prefix(uri)
            if source.get("CompressionType") == "Gzip":
                return self.archive(uri)
            return self._single(uri)
        url = container.get("ModelDataUrl")
        if url:
            return self.archive(url)
        empty = self.cache_dir / "empty"
        empty.mkdir(parents=True, exist_ok=True)
        return empty

    def archive(self, uri: str) -> Path:
        """A tar.gz object, extracted."""
        bucket, key = self._parse(uri)
        etag = self._etag(uri, bucket, key)

        def fill(folder: Path) -> None:
            with tempfile.TemporaryDirectory(prefix="tule-model-", dir=self.cache_dir) as scratch:
                archive = Path(scratch) / "model.tar.gz"
                self._fetch(uri, bucket, key, archive)
                try:
                    extract_tar_gz(archive, folder)
                except ArchiveError as exc:
                    raise ModelDataError(
                        f"The model data {uri} is not a valid tar.gz: {exc}"
                    ) from None

        return self._cached(f"{uri}\0{etag}", fill)

    def _single(self, uri: str) -> Path:
        bucket, key = self._parse(uri)
        etag = self._etag(uri, bucket, key)

        def fill(folder: Path) -> None:
            self._fetch(uri, bucket, key, folder / key.rsplit("/", 1)[-1])

        return self._cached(f"{uri}\0{etag}", fill)

    def _prefix(self, uri: str) -> Path:
        bucket, prefix = self._parse(uri)
        try:
            objects = [o for o in self.s3.list_objects(bucket, prefix) if not o.key.endswith("/")]
        except Exception:
            raise _download_failure(uri) from None
        if not objects:
            raise _download_failure(uri)
        fingerprint = "|".join(f"{o.key}:{o.etag}" for o in objects)

        def fill(folder: Path) -> None:
            for obj in objects:
                relative = obj.key[len(prefix) :].lstrip("/") or obj.key.rsplit("/", 1)[-1]
                target = (folder / relative).resolve()
                if folder.resolve() not in target.parents:
                    raise ModelDataError(f"The model data key {obj.key} escapes its folder.")
                target.parent.mkdir(parents=True, exist_ok=True)
                self._fetch(uri, bucket, obj.key, target)

        return self._cached(f"{uri}\0{fingerprint}", fill)

    # -- helpers -------------------------------------------------------------------------------

    def _parse(self, uri: str) -> tuple[str, str]:
        try:
            return parse_s3_uri(uri)
        except ChannelError as exc:
            raise ModelDataError(f"Could not access model data at {uri}: {exc}") from None

    def _etag(self, uri: str, bucket: str, key: str) -> str:
        try:
            for obj in self.s3.list_objects(bucket, key):
                if obj.key == key:
                    return str(obj.etag)
        except Exception:
            raise _download_failure(uri) from None
        raise _download_failure(uri)

    def _fetch(self, uri: str, bucket: str, key: str, target: Path) -> None:
        try:
            with open(target, "wb") as f:
                for chunk in self.s3.read_object(bucket, key):
                    f.write(chunk)
        except OSError:
            raise
        except Exception:
            raise _download_failure(uri) from None

    def _cached(self, identity: str, fill: Any) -> Path:
        digest = hashlib.sha256(identity.encode()).hexdigest()[:32]
        folder = self.cache_dir / digest
        with self._guard:
            lock = self._locks.setdefault(digest, threading.Lock())
        with lock:
            if folder.is_dir():
                return folder
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            partial = Path(tempfile.mkdtemp(prefix=f".{digest}-", dir=self.cache_dir))
            try:
                fill(partial)
                partial.rename(folder)
            finally:
                shutil.rmtree(partial, ignore_errors=True)
            return folder
