"""Where channel bytes come from: the files of a File-mode channel or a Pipe-mode stream.

File mode walks the channel's paths recursively in name order, skipping names that start with
`.` or `_` (SageMaker's containers skip `_SUCCESS`, `.amazon.manifest`-style markers and hidden
files). Gzip is undone transparently when the channel says `CompressionType=Gzip`, the name ends
in `.gz`, or the bytes start with gzip's magic number. Nothing here reads a whole source into
memory: readers pull from the returned streams.
"""

from __future__ import annotations

import gzip
import io
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from tule.algorithms.base import ChannelData, DataError

_GZIP_MAGIC = b"\x1f\x8b"


@dataclass
class Source:
    """One readable unit of a channel: a file, or the Pipe stream of one epoch."""

    name: str
    opener: Callable[[], BinaryIO]
    path: Path | None = None  # set for plain (uncompressed) files, so readers may mmap them
    # A Pipe-mode FIFO can be opened once per epoch: readers must not reopen it (to peek, or
    # to rescan for an error's line number).
    reopenable: bool = True

    def open(self) -> BinaryIO:
        return self.opener()


class _Replay(io.RawIOBase):
    """A stream that first returns already-read `head` bytes, then the rest of `inner`."""

    def __init__(self, head: bytes, inner: BinaryIO) -> None:
        self._head = memoryview(head)
        self._inner = inner

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        if self._head.nbytes:
            n = min(len(buffer), self._head.nbytes)
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._inner.read(len(buffer))
        if not data:
            return 0
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._inner.close()
        super().close()


def peeked(stream: BinaryIO, size: int) -> tuple[bytes, BinaryIO]:
    """The first `size` bytes of `stream`, and a stream that still yields them first."""
    head = _read_head(stream, size)
    return head, io.BufferedReader(_Replay(head, stream), buffer_size=1 << 20)  # type: ignore[return-value]


def _read_head(stream: BinaryIO, size: int) -> bytes:
    head = b""
    while len(head) < size:
        chunk = stream.read(size - len(head))
        if not chunk:
            break
        head += chunk
    return head


def decompressing(stream: BinaryIO, *, gzip_hint: bool = False) -> BinaryIO:
    """`stream`, gunzipped when hinted or when it starts with the gzip magic number."""
    head = _read_head(stream, 2)
    replay = io.BufferedReader(_Replay(head, stream), buffer_size=1 << 20)
    if gzip_hint or head == _GZIP_MAGIC:
        return gzip.GzipFile(fileobj=replay, mode="rb")  # type: ignore[return-value]
    return replay  # type: ignore[return-value]


def is_gzip_file(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == _GZIP_MAGIC


def _visible(name: str) -> bool:
    return not name.startswith((".", "_"))


def channel_files(paths: list[Path]) -> list[Path]:
    """The data files under `paths`, recursing into folders, hidden names skipped."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if _visible(d))
                found.extend(Path(root) / f for f in sorted(files) if _visible(f))
        elif path.exists() and _visible(path.name):
            found.append(path)
    return found


def iter_sources(channel: ChannelData) -> Iterator[Source]:
    """The sources of one pass over the channel (one epoch, in Pipe mode)."""
    gzip_channel = channel.compression.lower() == "gzip"
    if channel.stream_factory is not None:
        factory = channel.stream_factory
        yield Source(
            name=f"{channel.name} (pipe)",
            opener=lambda: decompressing(factory(), gzip_hint=gzip_channel),
            reopenable=False,
        )
        return
    files = channel_files(list(channel.files))
    if not files:
        raise DataError(f"No data files found in channel '{channel.name}'.")
    for path in files:
        compressed = gzip_channel or path.suffix == ".gz" or is_gzip_file(path)

        def opener(p: Path = path, c: bool = compressed) -> BinaryIO:
            raw = open(p, "rb")  # noqa: SIM115 - the caller closes the returned stream
            return decompressing(raw, gzip_hint=c) if c else raw

        yield Source(name=path.name, opener=opener, path=None if compressed else path)
