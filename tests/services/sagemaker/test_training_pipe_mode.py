"""Pipe mode end to end: a script reads its channels from the FIFOs SageMaker would give it
(`<channel>_<epoch>`), fed from S3 with Gzip decompression, RecordIO wrapping and augmented
manifests; FastFile lands files like File mode."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
import textwrap
from typing import Any

from sagemaker_helpers import SKLEARN_IMAGE, channel, create_job, wait_for

READER = textwrap.dedent(
    """
    import json, os, struct

    def records(stream):
        while True:
            head = stream.read(8)
            if not head:
                return
            magic, length = struct.unpack("<II", head)
            assert magic == 0xCED7230A
            length &= (1 << 29) - 1
            yield stream.read(length)
            stream.read((4 - length % 4) % 4)

    data = os.path.join(os.environ["SM_INPUT_DIR"], "data")
    out = {}
    for epoch in range(2):
        with open(os.path.join(data, f"plain_{epoch}"), "rb") as f:
            out[f"plain_{epoch}"] = f.read().decode()
    with open(os.path.join(data, "wrapped_0"), "rb") as f:
        out["wrapped"] = [r.decode() for r in records(f)]
    with open(os.path.join(data, "augmented_0"), "rb") as f:
        out["augmented"] = [r.decode() for r in records(f)]
    out["fast"] = sorted(os.listdir(os.environ["SM_CHANNEL_FAST"]))
    with open(os.path.join(os.environ["SM_MODEL_DIR"], "seen.json"), "w") as f:
        json.dump(out, f)
    """
)


def _tar(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def test_pipe_channels_stream_epochs_gzip_recordio_and_augmented_manifests(
    sm: Any, s3: Any, bucket: str
) -> None:
    put = s3.put_object
    put(Bucket=bucket, Key="code/sourcedir.tar.gz", Body=_tar({"train.py": READER.encode()}))
    put(Bucket=bucket, Key="plain/a.txt.gz", Body=gzip.compress(b"alpha\n"))
    put(Bucket=bucket, Key="plain/b.txt.gz", Body=gzip.compress(b"beta\n"))
    put(Bucket=bucket, Key="wrapped/1.txt", Body=b"one")
    put(Bucket=bucket, Key="wrapped/2.txt", Body=b"second")
    put(Bucket=bucket, Key="images/cat.bin", Body=b"meow")
    lines = [
        {"source-ref": f"s3://{bucket}/images/cat.bin", "label": 3},
        {"source-ref": f"s3://{bucket}/images/cat.bin", "label": 5},
    ]
    put(
        Bucket=bucket,
        Key="manifests/train.manifest",
        Body="".join(json.dumps(line) + "\n" for line in lines).encode(),
    )
    put(Bucket=bucket, Key="fast/x.csv", Body=b"1,2\n")
    augmented = {
        "ChannelName": "augmented",
        "InputMode": "Pipe",
        "RecordWrapperType": "RecordIO",
        "DataSource": {
            "S3DataSource": {
                "S3DataType": "AugmentedManifestFile",
                "S3Uri": f"s3://{bucket}/manifests/train.manifest",
                "AttributeNames": ["source-ref", "label"],
            }
        },
    }
    name = create_job(
        sm,
        bucket,
        SKLEARN_IMAGE,
        [
            channel("plain", f"s3://{bucket}/plain/", CompressionType="Gzip", InputMode="Pipe"),
            channel(
                "wrapped", f"s3://{bucket}/wrapped/", RecordWrapperType="RecordIO", InputMode="Pipe"
            ),
            augmented,
            channel("fast", f"s3://{bucket}/fast/", InputMode="FastFile"),
        ],
        {
            "sagemaker_program": '"train.py"',
            "sagemaker_submit_directory": json.dumps(f"s3://{bucket}/code/sourcedir.tar.gz"),
        },
    )
    job = wait_for(sm, name)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    uri = job["ModelArtifacts"]["S3ModelArtifacts"]
    body = s3.get_object(Bucket=bucket, Key=uri.split("/", 3)[3])["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
        seen = json.loads(tar.extractfile("seen.json").read())
    assert seen["plain_0"] == seen["plain_1"] == "alpha\nbeta\n"
    assert seen["wrapped"] == ["one", "second"]
    assert seen["augmented"] == ["meow", "3", "meow", "5"]
    assert seen["fast"] == ["x.csv"]


def test_a_pipe_channel_that_cannot_be_streamed_fails_the_job(
    sm: Any, s3: Any, bucket: str
) -> None:
    script = "import os\nopen(os.path.join(os.environ['SM_INPUT_DIR'], 'data', 'train_0')).read()\n"
    s3.put_object(
        Bucket=bucket, Key="code/sourcedir.tar.gz", Body=_tar({"train.py": script.encode()})
    )
    s3.put_object(Bucket=bucket, Key="notgzip/a.txt", Body=b"plain text, not gzip")
    name = create_job(
        sm,
        bucket,
        SKLEARN_IMAGE,
        [channel("train", f"s3://{bucket}/notgzip/", CompressionType="Gzip", InputMode="Pipe")],
        {
            "sagemaker_program": '"train.py"',
            "sagemaker_submit_directory": json.dumps(f"s3://{bucket}/code/sourcedir.tar.gz"),
        },
    )
    job = wait_for(sm, name)
    assert job["TrainingJobStatus"] == "Failed"
    assert "notgzip/a.txt" in job["FailureReason"]
