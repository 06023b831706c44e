"""Pipe-mode input: one named pipe (FIFO) per channel and epoch, fed from a byte source.

In Pipe mode SageMaker streams a channel into `/opt/ml/input/data/<channel>_<epoch>` instead of
copying files: the algorithm reads `train_0` to its end, then opens `train_1` for the next pass,
and so on (aws-apis.md §2.7). A `PipeFeeder` plays the platform's side for one channel.

The feeder never blocks on the reader: it waits for one with a non-blocking open polled every
10 ms, and writes through a non-blocking descriptor with `poll`, so `close()` ends it promptly
whether no reader ever came, a reader stopped reading, or a reader is slow.
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import stat
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

# How often to look for a reader on the next FIFO, and to re-check `close()` while writing.
POLL_S = 0.01


class PipeFeeder:
    """Feeds one Pipe-mode channel: FIFO `<data_dir>/<channel>_<epoch>` for epoch 0, 1, 2, ...;
    each epoch writes all bytes of `source(epoch)`."""

    def __init__(
        self, data_dir: Path, channel: str, source: Callable[[int], Iterable[bytes]]
    ) -> None:
        self._data_dir = Path(data_dir)
        self._channel = channel
        self._source = source
        self._closed = threading.Event()
        self._made: list[Path] = []
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None

    def fifo(self, epoch: int) -> Path:
        """The FIFO of one epoch."""
        return self._data_dir / f"{self._channel}_{epoch}"

    def start(self) -> None:
        """Create the first FIFO (a reader may open it as soon as this returns) and feed it."""
        self._make_fifo(0)
        self._thread = threading.Thread(target=self._run, name=f"pipe-{self._channel}", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop feeding, wait for the feeding thread, and remove the FIFOs this feeder made."""
        self._closed.set()
        if self._thread is not None:
            self._thread.join()
        for path in self._made:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        self._made.clear()

    def _make_fifo(self, epoch: int) -> None:
        path = self.fifo(epoch)
        try:
            os.mkfifo(path)
        except FileExistsError:
            # Left by an earlier attempt of the same job: reuse it if it is a FIFO.
            if not stat.S_ISFIFO(path.lstat().st_mode):
                raise
        self._made.append(path)

    def _run(self) -> None:
        epoch = 0
        while True:
            fd = self._open_when_read(self.fifo(epoch))
            if fd is None:
                return
            try:
                # The reader is here: the next epoch's FIFO must exist before it finishes this one.
                try:
                    self._make_fifo(epoch + 1)
                except OSError as e:
                    self.error = e
                    return
                if not self._feed(fd, epoch):
                    return
            finally:
                os.close(fd)
            epoch += 1

    def _open_when_read(self, path: Path) -> int | None:
        """A write descriptor once a reader has the FIFO open; None if closed first."""
        while not self._closed.is_set():
            try:
                return os.open(path, os.O_WRONLY | os.O_NONBLOCK)
            except OSError as e:
                # ENXIO: no reader yet (opening for write without blocking needs one).
                if e.errno != errno.ENXIO:
                    self.error = e
                    return None
            self._closed.wait(POLL_S)
        return None

    def _feed(self, fd: int, epoch: int) -> bool:
        """Write one epoch; False when feeding must end (closed, or the source failed)."""
        chunks = self._source(epoch)
        try:
            for chunk in chunks:
                if not self._write_all(fd, memoryview(chunk)):
                    return not self._closed.is_set()
            return True
        except BaseException as e:
            # The reader sees this epoch end early; the job reports the error.
            self.error = e
            return False
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()

    def _write_all(self, fd: int, data: memoryview) -> bool:
        """Write all of `data`; False if the reader went away or the feeder was closed."""
        poller = select.poll()
        poller.register(fd, select.POLLOUT)
        while data:
            if self._closed.is_set():
                return False
            if not poller.poll(POLL_S * 1000):
                continue
            try:
                written = os.write(fd, data)
            except BlockingIOError:
                continue
            except BrokenPipeError:
                # The reader closed early: that ends this epoch, quietly.
                return False
            data = data[written:]
        return True
