"""Deployment packages: zip files stored by their SHA-256 and unpacked once each.

`<data dir>/lambda/code/<sha256 hex>.zip` is the package as uploaded (durable before a
function refers to it); `<sha256 hex>/` beside it is its unpacked tree, the function's task
root. Functions and versions with the same code share both. Unpacking goes to a temporary
folder renamed into place, so a crash never leaves a half-unpacked tree under the final name;
a tree missing after a crash is unpacked again from its zip when next needed.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import os
import shutil
import tempfile
import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path

from tule.errors import AwsError
from tule.services.lambda_.errors import invalid_parameter
from tule.storage.durability import commit

# Lambda's quotas: 50 MB zipped when uploaded directly, 250 MB unzipped.
MAX_ZIPPED_BYTES = 50 * 1024 * 1024
MAX_UNZIPPED_BYTES = 250 * 1024 * 1024


@dataclass(frozen=True)
class StoredCode:
    """A stored package: its SHA-256 as Lambda shows it (base64) and in hex, and its size."""

    sha256: str
    hex: str
    size: int


def _bad_zip() -> Exception:
    return invalid_parameter(
        "Could not unzip uploaded file. Please check your file, then try to upload again."
    )


class CodeStore:
    """Zip packages on disk, by content."""

    def __init__(self, root: Path, *, fsync: bool) -> None:
        self.root = root
        self.fsync = fsync
        root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def add(self, data: bytes) -> StoredCode:
        """Check and store a package; returns it (stored once however often it is added)."""
        if len(data) > MAX_ZIPPED_BYTES:
            raise AwsError(
                "RequestTooLargeException",
                f"Zipped size must be smaller than {MAX_ZIPPED_BYTES} bytes",
                413,
            )
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                unzipped = sum(info.file_size for info in archive.infolist())
                if archive.testzip() is not None:
                    raise _bad_zip()
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError):
            raise _bad_zip() from None
        if unzipped > MAX_UNZIPPED_BYTES:
            raise invalid_parameter(
                f"Unzipped size must be smaller than {MAX_UNZIPPED_BYTES} bytes"
            )
        digest = hashlib.sha256(data).digest()
        code = StoredCode(base64.b64encode(digest).decode(), digest.hex(), len(data))
        final = self.zip_path(code.hex)
        if not final.exists():
            fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".upload-")
            try:
                with contextlib.suppress(OSError):
                    os.fchmod(fd, 0o644)
                os.write(fd, data)
            except BaseException:
                os.close(fd)
                os.unlink(tmp)
                raise
            commit(fd, Path(tmp), final, durable=self.fsync)
        self.task_root(code.hex)
        return code

    def zip_path(self, hex_digest: str) -> Path:
        return self.root / f"{hex_digest}.zip"

    def read(self, hex_digest: str) -> bytes:
        return self.zip_path(hex_digest).read_bytes()

    def task_root(self, hex_digest: str) -> Path:
        """The unpacked tree of a stored package (unpacking it now if it is not yet)."""
        target = self.root / hex_digest
        if target.is_dir():
            return target
        with self._lock:
            if target.is_dir():
                return target
            scratch = Path(tempfile.mkdtemp(dir=self.root, prefix=".unpack-"))
            try:
                with zipfile.ZipFile(self.zip_path(hex_digest)) as archive:
                    # extractall drops absolute paths and `..` parts, so nothing lands
                    # outside the tree.
                    archive.extractall(scratch)
                    for info in archive.infolist():
                        mode = (info.external_attr >> 16) & 0o777
                        if mode and not info.is_dir():
                            with contextlib.suppress(OSError):
                                os.chmod(scratch / info.filename, mode | 0o400)
                os.replace(scratch, target)
            except BaseException:
                shutil.rmtree(scratch, ignore_errors=True)
                raise
        return target

    def remove_unreferenced(self, referenced: set[str]) -> int:
        """Delete every package (and tree) whose hex digest is not in `referenced`, and the
        scratch a crash left. Only at start-up: an upload in progress would look like scratch."""
        removed = 0
        with self._lock:
            for entry in self.root.iterdir():
                digest = entry.name.removesuffix(".zip")
                if entry.name.startswith(".") or digest in referenced:
                    continue
                if entry.is_dir():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)
                    removed += 1
            for entry in self.root.glob(".*"):  # scratch left by a crash
                if entry.is_dir():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)
        return removed
