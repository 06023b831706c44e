"""A job's workspace: the `/opt/ml` directory tree of a SageMaker container, inside a job folder.

A training container sees its configuration under `/opt/ml/input/config`, its data under
`/opt/ml/input/data/<channel>`, writes the model to `/opt/ml/model` and a failure message to
`/opt/ml/output/failure` (aws-apis.md §2.7). tule runs the program directly, so the same tree
lives in the job's folder and every `/opt/ml/...` path is mapped onto it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CONTAINER_ROOT = "/opt/ml"
# DescribeTrainingJob's FailureReason is at most 1024 characters: the first 1024 of the file.
FAILURE_REASON_LIMIT = 1024
# SageMaker's name for the single instance group of a homogeneous cluster.
HOMOGENEOUS_CLUSTER = "homogeneousCluster"


class Workspace:
    """The `/opt/ml` tree of one job (one host of it) rooted at `root`."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @property
    def input_dir(self) -> Path:
        return self.root / "input"

    @property
    def config_dir(self) -> Path:
        return self.input_dir / "config"

    @property
    def data_dir(self) -> Path:
        return self.input_dir / "data"

    @property
    def model_dir(self) -> Path:
        return self.root / "model"

    @property
    def output_dir(self) -> Path:
        return self.root / "output"

    @property
    def output_data_dir(self) -> Path:
        return self.output_dir / "data"

    @property
    def intermediate_dir(self) -> Path:
        return self.output_dir / "intermediate"

    @property
    def failure_file(self) -> Path:
        return self.output_dir / "failure"

    @property
    def code_dir(self) -> Path:
        return self.root / "code"

    @property
    def checkpoints_dir(self) -> Path:
        return self.root / "checkpoints"

    def create(self) -> Workspace:
        """Make every directory of the tree (existing ones are kept); returns self."""
        for directory in (
            self.config_dir,
            self.data_dir,
            self.model_dir,
            self.output_data_dir,
            self.intermediate_dir,
            self.code_dir,
            self.checkpoints_dir,
        ):
            directory.mkdir(parents=True, exist_ok=True)
        return self

    def channel_dir(self, channel: str) -> Path:
        """Where a File-mode channel's objects go (not created here)."""
        return self.data_dir / channel

    def write_config(
        self,
        hyperparameters: dict[str, str],
        input_data_config: dict[str, dict[str, str]],
        resource_config: dict[str, Any],
    ) -> None:
        """Write hyperparameters.json, inputdataconfig.json and resourceconfig.json."""
        self.config_dir.mkdir(parents=True, exist_ok=True)
        for name, content in (
            ("hyperparameters.json", hyperparameters),
            ("inputdataconfig.json", input_data_config),
            ("resourceconfig.json", resource_config),
        ):
            (self.config_dir / name).write_text(json.dumps(content, indent=2), encoding="utf-8")

    def failure_reason(self) -> str | None:
        """The FailureReason the container left in output/failure, or None if it left none."""
        try:
            text = self.failure_file.read_text(encoding="utf-8", errors="replace")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None
        reason = text.strip()[:FAILURE_REASON_LIMIT]
        return reason or None

    def map_container_path(self, path: str) -> Path:
        """`/opt/ml/...` as a path under root; any other path is returned unchanged."""
        if path == CONTAINER_ROOT:
            return self.root
        if path.startswith(CONTAINER_ROOT + "/"):
            return self.root / path[len(CONTAINER_ROOT) + 1 :].lstrip("/")
        return Path(path)


def resource_config(current_host: str, hosts: list[str], instance_type: str) -> dict[str, Any]:
    """resourceconfig.json for one host of a homogeneous cluster.

    Both `current_group_name` and `current_instance_group` are written because the training
    toolkit reads one in some places and the other elsewhere (aws-apis.md §2.7).
    """
    ordered = sorted(hosts)
    return {
        "current_host": current_host,
        "current_instance_type": instance_type,
        "current_group_name": HOMOGENEOUS_CLUSTER,
        "current_instance_group": HOMOGENEOUS_CLUSTER,
        "hosts": ordered,
        "instance_groups": [
            {
                "instance_group_name": HOMOGENEOUS_CLUSTER,
                "instance_type": instance_type,
                "hosts": ordered,
            }
        ],
        "network_interface_name": "eth0",
    }


def input_data_config(
    channels: list[dict[str, Any]], default_mode: str
) -> dict[str, dict[str, str]]:
    """inputdataconfig.json from CreateTrainingJob's `InputDataConfig` channels.

    A channel's own `InputMode` overrides `default_mode` (the algorithm's TrainingInputMode).
    FastFile is reported as File: the container reads files either way.
    """
    config: dict[str, dict[str, str]] = {}
    for channel in channels:
        entry: dict[str, str] = {}
        if channel.get("ContentType") is not None:
            entry["ContentType"] = channel["ContentType"]
        mode = channel.get("InputMode") or default_mode
        entry["TrainingInputMode"] = "File" if mode == "FastFile" else mode
        s3 = channel.get("DataSource", {}).get("S3DataSource", {})
        entry["S3DistributionType"] = s3.get("S3DataDistributionType") or "FullyReplicated"
        entry["RecordWrapperType"] = channel.get("RecordWrapperType") or "None"
        compression = channel.get("CompressionType")
        if compression and compression != "None":
            entry["CompressionType"] = compression
        config[channel["ChannelName"]] = entry
    return config
