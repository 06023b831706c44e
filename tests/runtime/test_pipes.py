"""Pipe-mode FIFOs: epochs in sequence, early readers, absent readers, failing sources."""

from __future__ import annotations

import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tule.runtime.pipes import PipeFeeder


def epoch_bytes(epoch: int) -> Iterator[bytes]:
    # Several chunks, more than a pipe's 64 KiB buffer, so the writer must wait for the reader.
    for i in range(50):
        yield f"epoch {epoch} chunk {i:02d}\n".encode() * 200


def expected(epoch: int) -> bytes:
    return b"".join(epoch_bytes(epoch))


def read_epochs(data_dir: Path, channel: str, epochs: int, out: list[bytes]) -> None:
    for epoch in range(epochs):
        with open(data_dir / f"{channel}_{epoch}", "rb") as pipe:
            out.append(pipe.read())


def test_a_reader_reads_three_epochs_in_sequence(tmp_path: Path) -> None:
    feeder = PipeFeeder(tmp_path, "train", epoch_bytes)
    feeder.start()
    assert stat.S_ISFIFO((tmp_path / "train_0").stat().st_mode)
    got: list[bytes] = []
    reader = threading.Thread(target=read_epochs, args=(tmp_path, "train", 3, got))
    reader.start()
    reader.join(10)
    assert not reader.is_alive()
    feeder.close()
    assert got == [expected(0), expected(1), expected(2)]
    assert feeder.error is None
    assert list(tmp_path.iterdir()) == []


def test_a_reader_that_stops_after_one_epoch_lets_close_return(tmp_path: Path) -> None:
    feeder = PipeFeeder(tmp_path, "train", epoch_bytes)
    feeder.start()
    got: list[bytes] = []
    read_epochs(tmp_path, "train", 1, got)
    assert got == [expected(0)]
    assert (tmp_path / "train_1").exists()
    started = time.monotonic()
    feeder.close()
    assert time.monotonic() - started < 1
    assert feeder.error is None
    assert list(tmp_path.iterdir()) == []


def test_a_reader_closing_mid_epoch_ends_that_epoch_quietly(tmp_path: Path) -> None:
    feeder = PipeFeeder(tmp_path, "train", epoch_bytes)
    feeder.start()
    with open(tmp_path / "train_0", "rb") as pipe:
        assert pipe.read(100) == expected(0)[:100]
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append((tmp_path / "train_1").read_bytes()))
    reader.start()
    reader.join(10)
    feeder.close()
    assert got == [expected(1)]
    assert feeder.error is None


def test_close_returns_when_no_reader_ever_came(tmp_path: Path) -> None:
    feeder = PipeFeeder(tmp_path, "train", epoch_bytes)
    feeder.start()
    time.sleep(0.05)
    started = time.monotonic()
    feeder.close()
    assert time.monotonic() - started < 1
    assert not (tmp_path / "train_0").exists()


def test_close_unblocks_a_writer_whose_reader_stopped_reading(tmp_path: Path) -> None:
    feeder = PipeFeeder(tmp_path, "train", epoch_bytes)
    feeder.start()
    with open(tmp_path / "train_0", "rb") as pipe:
        pipe.read(10)
        time.sleep(0.05)  # the writer fills the pipe and waits
        started = time.monotonic()
        feeder.close()
        assert time.monotonic() - started < 1


def test_an_error_in_the_source_is_kept_and_ends_the_epoch(tmp_path: Path) -> None:
    def failing(epoch: int) -> Iterator[bytes]:
        yield b"first part\n"
        raise ValueError("cannot read s3://bucket/train/part-2")

    feeder = PipeFeeder(tmp_path, "train", failing)
    feeder.start()
    assert (tmp_path / "train_0").read_bytes() == b"first part\n"
    feeder.close()
    assert isinstance(feeder.error, ValueError)
    assert "part-2" in str(feeder.error)


@pytest.mark.parametrize("channel", ["train", "validation.v2"])
def test_fifo_names_follow_channel_and_epoch(tmp_path: Path, channel: str) -> None:
    feeder = PipeFeeder(tmp_path, channel, epoch_bytes)
    assert feeder.fifo(3) == tmp_path / f"{channel}_3"
