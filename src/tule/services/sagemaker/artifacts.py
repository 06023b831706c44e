"""A training job's outputs in S3: model.tar.gz, output.tar.gz and checkpoints (specs §2.2, §2.7).

`model/` of every instance is packed into `<S3OutputPath>/<job>/output/model.tar.gz` (the
instances' folders are merged, the first host winning a name clash, since SageMaker uploads
each instance's `/opt/ml/model` to the same place and scripts save on rank 0 only);
`output/data/` likewise into `output.tar.gz` when anything was written there. Checkpoints are
synced both ways with `CheckpointConfig.S3Uri`: downloaded before the job starts and uploaded
while it runs and when it ends, so a new job resumes where an interrupted one stopped.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

from tule.runtime.archive import tar_gz_directory
from tule.services.sagemaker.channels import parse_s3_uri

CHECKPOINT_SYNC_INTERVAL_S = 2.0


def _merge(folders: list[Path], into: Path) -> None:
    """Copy the files of `folders` into `into` (the first folder wins a name clash)."""
    for folder in folders:
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*")):
            if not path.is_file():
                continue
            target = into / path.relative_to(folder)
            if target.exists():
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)


def upload_tree(s3: Any, folders: list[Path], uri: str, *, always: bool) -> bool:
    """Pack the merged `folders` into a tar.gz at `uri`; skipped when empty unless `always`."""
    bucket, key = parse_s3_uri(uri)
    filled = [f for f in folders if f.is_dir() and any(p.is_file() for p in f.rglob("*"))]
    if not filled and not always:
        return False
    with tempfile.TemporaryDirectory(prefix="tule-pack-") as scratch:
        tree = Path(scratch) / "tree"
        if len(filled) == 1:
            tree = filled[0]  # the usual case (one instance, or only the leader saves): no copy
        else:
            tree.mkdir()
            _merge(filled, tree)
        archive = Path(scratch) / "archive.tar.gz"
        tar_gz_directory(tree, archive)
        with open(archive, "rb") as f:
            s3.write_object(bucket, key, f, "application/x-tar")
    return True


class Checkpoints:
    """Two-way sync of one local checkpoint folder with an S3 prefix."""

    def __init__(self, s3: Any, uri: str, local: Path) -> None:
        self.s3 = s3
        self.bucket, prefix = parse_s3_uri(uri)
        self.prefix = prefix if not prefix or prefix.endswith("/") else prefix + "/"
        self.local = local
        self._seen: dict[str, tuple[int, int]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def download(self) -> int:
        """Fetch every object under the prefix (what a new job resumes from)."""
        self.local.mkdir(parents=True, exist_ok=True)
        count = 0
        for obj in self.s3.list_objects(self.bucket, self.prefix):
            relative = obj.key[len(self.prefix) :]
            if not relative or relative.endswith("/") or ".." in Path(relative).parts:
                continue
            target = self.local / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(target, "wb") as f:
                for chunk in self.s3.read_object(self.bucket, obj.key):
                    f.write(chunk)
            st = target.stat()
            self._seen[relative] = (st.st_size, st.st_mtime_ns)
            count += 1
        return count

    def upload_changed(self) -> int:
        """Upload files that are new or changed since the last sync."""
        with self._lock:
            count = 0
            if not self.local.is_dir():
                return 0
            for path in sorted(self.local.rglob("*")):
                if not path.is_file():
                    continue
                relative = path.relative_to(self.local).as_posix()
                try:
                    st = path.stat()
                except FileNotFoundError:
                    continue
                state = (st.st_size, st.st_mtime_ns)
                if self._seen.get(relative) == state:
                    continue
                with open(path, "rb") as f:
                    self.s3.write_object(self.bucket, self.prefix + relative, f)
                self._seen[relative] = state
                count += 1
            return count

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="checkpoint-sync", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(CHECKPOINT_SYNC_INTERVAL_S):
            try:
                self.upload_changed()
            except Exception:  # e.g. a file removed mid-read: retried on the next pass
                continue

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.upload_changed()
