"""tar.gz packing of job directories and safe extraction."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from tule.runtime.archive import ArchiveError, extract_tar_gz, tar_gz_directory


def make_tree(root: Path) -> None:
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "model.pth").write_bytes(b"weights")
    (root / "b.txt").write_text("b")
    (root / "sub" / "a.json").write_text("{}")
    (root / "sub" / "deeper" / "z.bin").write_bytes(os.urandom(1000))


def test_members_are_the_contents_with_relative_names_in_order(tmp_path: Path) -> None:
    make_tree(tmp_path / "model")
    size = tar_gz_directory(tmp_path / "model", tmp_path / "out" / "model.tar.gz")
    assert size == (tmp_path / "out" / "model.tar.gz").stat().st_size
    with tarfile.open(tmp_path / "out" / "model.tar.gz", "r:gz") as tar:
        names = tar.getnames()
        assert tar.extractfile("model.pth").read() == b"weights"  # type: ignore[union-attr]
    assert names == ["b.txt", "model.pth", "sub", "sub/a.json", "sub/deeper", "sub/deeper/z.bin"]
    assert list((tmp_path / "out").iterdir()) == [tmp_path / "out" / "model.tar.gz"]


def test_packing_the_same_files_twice_gives_the_same_bytes(tmp_path: Path) -> None:
    make_tree(tmp_path / "model")
    tar_gz_directory(tmp_path / "model", tmp_path / "one.tar.gz")
    tar_gz_directory(tmp_path / "model", tmp_path / "two.tar.gz")
    assert (tmp_path / "one.tar.gz").read_bytes() == (tmp_path / "two.tar.gz").read_bytes()


def test_an_empty_directory_gives_an_empty_archive(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    tar_gz_directory(tmp_path / "empty", tmp_path / "empty.tar.gz")
    with tarfile.open(tmp_path / "empty.tar.gz") as tar:
        assert tar.getnames() == []


def test_an_archive_written_inside_the_source_does_not_contain_itself(tmp_path: Path) -> None:
    make_tree(tmp_path)
    tar_gz_directory(tmp_path, tmp_path / "self.tar.gz")
    with tarfile.open(tmp_path / "self.tar.gz") as tar:
        assert "self.tar.gz" not in tar.getnames()


def test_round_trip(tmp_path: Path) -> None:
    make_tree(tmp_path / "model")
    tar_gz_directory(tmp_path / "model", tmp_path / "model.tar.gz")
    extract_tar_gz(tmp_path / "model.tar.gz", tmp_path / "back")
    for path in (tmp_path / "model").rglob("*"):
        copy = tmp_path / "back" / path.relative_to(tmp_path / "model")
        assert copy.is_dir() if path.is_dir() else copy.read_bytes() == path.read_bytes()


def test_a_corrupt_archive_raises_archive_error(tmp_path: Path) -> None:
    (tmp_path / "bad.tar.gz").write_bytes(b"\x1f\x8b\x08\x00 this is not gzip data at all")
    with pytest.raises(ArchiveError, match=r"bad.tar.gz is not a valid tar.gz archive"):
        extract_tar_gz(tmp_path / "bad.tar.gz", tmp_path / "out")


def test_a_missing_archive_raises_archive_error(tmp_path: Path) -> None:
    with pytest.raises(ArchiveError, match="does not exist"):
        extract_tar_gz(tmp_path / "missing.tar.gz", tmp_path / "out")


@pytest.mark.parametrize("name", ["../escape.txt", "a/../../escape.txt"])
def test_members_escaping_the_destination_are_refused(tmp_path: Path, name: str) -> None:
    archive = tmp_path / "evil.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo(name)
        info.size = 4
        tar.addfile(info, io.BytesIO(b"evil"))
    with pytest.raises(ArchiveError, match="unsafe member"):
        extract_tar_gz(archive, tmp_path / "out")
    assert not (tmp_path / "escape.txt").exists()


def test_absolute_symlinks_are_refused(tmp_path: Path) -> None:
    archive = tmp_path / "link.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("passwd")
        info.type = tarfile.SYMTYPE
        info.linkname = "/etc/passwd"
        tar.addfile(info)
    with pytest.raises(ArchiveError, match="unsafe member"):
        extract_tar_gz(archive, tmp_path / "out")
