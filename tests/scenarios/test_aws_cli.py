"""The AWS CLI (`aws --endpoint-url ... s3 ...`) against a real tule server: sync, cp, ls, rm."""

import os
import subprocess
import sys
from pathlib import Path

from tule.testing import TuleServer


def aws(server: TuleServer, *args: str) -> str:
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
    env.pop("AWS_PROFILE", None)
    result = subprocess.run(
        [sys.executable, "-m", "awscli", "--endpoint-url", server.endpoint_url, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_cli_sync_cp_ls_rm_round_trip(tule: TuleServer, tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "nested" / "deeper").mkdir(parents=True)
    files = {
        "a.txt": b"alpha\n",
        "nested/b.csv": b"1,2,3\n" * 1000,
        "nested/deeper/c d.bin": os.urandom(9 * 1024 * 1024),  # multipart through the CLI
    }
    for rel, data in files.items():
        (src / rel).write_bytes(data)

    aws(tule, "s3", "mb", "s3://cli-bucket")
    aws(tule, "s3", "sync", str(src), "s3://cli-bucket/data/")
    listing = aws(tule, "s3", "ls", "--recursive", "s3://cli-bucket/data/")
    for rel, data in files.items():
        assert f"data/{rel}" in listing
        assert str(len(data)) in listing

    dst = tmp_path / "dst"
    aws(tule, "s3", "sync", "s3://cli-bucket/data/", str(dst))
    for rel, data in files.items():
        assert (dst / rel).read_bytes() == data

    aws(tule, "s3", "cp", str(src / "a.txt"), "s3://cli-bucket/single.txt")
    copied = tmp_path / "copied.txt"
    aws(tule, "s3", "cp", "s3://cli-bucket/single.txt", str(copied))
    assert copied.read_bytes() == files["a.txt"]

    # A second sync uploads nothing: sizes and times match.
    assert "upload:" not in aws(tule, "s3", "sync", str(src), "s3://cli-bucket/data/")

    aws(tule, "s3", "rm", "--recursive", "s3://cli-bucket/data/")
    remaining = tule.client("s3").list_objects_v2(Bucket="cli-bucket")
    assert [o["Key"] for o in remaining.get("Contents", [])] == ["single.txt"]
    aws(tule, "s3", "rm", "s3://cli-bucket/single.txt")
    aws(tule, "s3", "rb", "s3://cli-bucket")
    names = [b["Name"] for b in tule.client("s3").list_buckets()["Buckets"]]
    assert "cli-bucket" not in names
