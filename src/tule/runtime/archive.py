"""Gzipped tar archives: model.tar.gz / output.tar.gz out of a job, sourcedir.tar.gz into one.

SageMaker packs the *contents* of `/opt/ml/model` into model.tar.gz (members such as
`model.pth`, not `model/model.pth`) and frameworks extract such archives into `/opt/ml/model`
or `/opt/ml/code`. Archives are written atomically, in a stable member order and with a fixed
gzip header, so packing the same files twice gives the same bytes. Extraction uses tarfile's
"data" filter, refusing members that would land outside the destination or are device files.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import tarfile
import tempfile
import zlib
from collections.abc import Iterator
from pathlib import Path

# zlib level 6 (gzip's default) is several times faster than 9 on large models, a few % bigger.
COMPRESS_LEVEL = 6


class ArchiveError(Exception):
    """An archive that cannot be extracted safely; str() says which and why."""


def _members(source: Path, skip: set[Path]) -> Iterator[Path]:
    """Every path under `source`, parents before children, siblings in name order."""
    for directory, dirnames, filenames in os.walk(source):
        dirnames.sort()
        here = Path(directory)
        for name in sorted([*dirnames, *filenames]):
            path = here / name
            if path not in skip:
                yield path


def tar_gz_directory(source: Path, destination: Path) -> int:
    """Pack the contents of `source` into `destination` (a .tar.gz); returns its size in bytes."""
    source, destination = Path(source), Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(prefix=f".{destination.name}.", dir=destination.parent)
    temp = Path(temp_name)
    try:
        with (
            os.fdopen(fd, "wb") as raw,
            # mtime=0 and no file name in the gzip header keep the bytes reproducible.
            gzip.GzipFile(
                filename="", mode="wb", fileobj=raw, compresslevel=COMPRESS_LEVEL, mtime=0
            ) as compressed,
            tarfile.open(fileobj=compressed, mode="w") as archive,
        ):
            # The archive may be written inside the directory it packs; never pack it.
            for path in _members(source, skip={temp, destination}):
                archive.add(path, arcname=path.relative_to(source).as_posix(), recursive=False)
        os.replace(temp, destination)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
        raise
    return destination.stat().st_size


def extract_tar_gz(archive: Path, destination: Path) -> None:
    """Extract `archive` (gzipped or plain tar) into `destination`, refusing unsafe members."""
    archive, destination = Path(archive), Path(destination)
    if not archive.is_file():
        raise ArchiveError(f"{archive} does not exist")
    destination.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(archive, mode="r:*") as tar:
            tar.extractall(destination, filter="data")
    except tarfile.FilterError as e:
        raise ArchiveError(f"{archive.name} has an unsafe member and was not extracted: {e}") from e
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as e:
        raise ArchiveError(f"{archive.name} is not a valid tar.gz archive: {e}") from e
