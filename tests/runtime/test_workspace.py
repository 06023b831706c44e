"""The /opt/ml workspace: layout, config files, failure reason and container-path mapping."""

from __future__ import annotations

import json
from pathlib import Path

from tule.runtime.workspace import (
    FAILURE_REASON_LIMIT,
    Workspace,
    input_data_config,
    resource_config,
)


def test_create_makes_the_opt_ml_tree(tmp_path: Path) -> None:
    workspace = Workspace(tmp_path / "job").create()
    expected = {
        "input": workspace.input_dir,
        "input/config": workspace.config_dir,
        "input/data": workspace.data_dir,
        "model": workspace.model_dir,
        "output": workspace.output_dir,
        "output/data": workspace.output_data_dir,
        "output/intermediate": workspace.intermediate_dir,
        "code": workspace.code_dir,
        "checkpoints": workspace.checkpoints_dir,
    }
    for relative, path in expected.items():
        assert path == tmp_path / "job" / relative
        assert path.is_dir()
    assert workspace.failure_file == tmp_path / "job/output/failure"
    assert workspace.channel_dir("train") == tmp_path / "job/input/data/train"
    assert not workspace.channel_dir("train").exists()
    assert workspace.create() is workspace


def test_write_config_writes_the_three_files(tmp_path: Path) -> None:
    workspace = Workspace(tmp_path).create()
    hyperparameters = {"num_round": "10", "eta": "0.2"}
    channels = {"train": {"TrainingInputMode": "File"}}
    resources = resource_config("algo-1", ["algo-1"], "ml.m5.xlarge")
    workspace.write_config(hyperparameters, channels, resources)
    config = workspace.config_dir
    assert json.loads((config / "hyperparameters.json").read_text()) == hyperparameters
    assert json.loads((config / "inputdataconfig.json").read_text()) == channels
    assert json.loads((config / "resourceconfig.json").read_text()) == resources


def test_failure_reason_is_the_first_1024_characters_stripped(tmp_path: Path) -> None:
    workspace = Workspace(tmp_path).create()
    assert workspace.failure_reason() is None
    workspace.failure_file.write_text("  \n")
    assert workspace.failure_reason() is None
    workspace.failure_file.write_text("\nAlgorithmError: bad label\n")
    assert workspace.failure_reason() == "AlgorithmError: bad label"
    workspace.failure_file.write_text("x" * 5000)
    assert workspace.failure_reason() == "x" * FAILURE_REASON_LIMIT


def test_map_container_path(tmp_path: Path) -> None:
    workspace = Workspace(tmp_path)
    assert workspace.map_container_path("/opt/ml") == tmp_path
    assert workspace.map_container_path("/opt/ml/") == tmp_path
    assert workspace.map_container_path("/opt/ml/checkpoints/") == tmp_path / "checkpoints"
    assert workspace.map_container_path("/opt/ml/model/a.bin") == tmp_path / "model/a.bin"
    assert workspace.map_container_path("/opt/mlx/a") == Path("/opt/mlx/a")
    assert workspace.map_container_path("/tmp/checkpoints") == Path("/tmp/checkpoints")


def test_resource_config_matches_the_container_contract() -> None:
    assert resource_config("algo-2", ["algo-2", "algo-10", "algo-1"], "ml.c5.xlarge") == {
        "current_host": "algo-2",
        "current_instance_type": "ml.c5.xlarge",
        "current_group_name": "homogeneousCluster",
        "current_instance_group": "homogeneousCluster",
        "hosts": ["algo-1", "algo-10", "algo-2"],
        "instance_groups": [
            {
                "instance_group_name": "homogeneousCluster",
                "instance_type": "ml.c5.xlarge",
                "hosts": ["algo-1", "algo-10", "algo-2"],
            }
        ],
        "network_interface_name": "eth0",
    }


def test_input_data_config_from_channels() -> None:
    channels = [
        {
            "ChannelName": "train",
            "ContentType": "text/csv",
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://b/t/"}},
        },
        {
            "ChannelName": "validation",
            "InputMode": "FastFile",
            "CompressionType": "None",
            "DataSource": {
                "S3DataSource": {
                    "S3DataType": "S3Prefix",
                    "S3Uri": "s3://b/v/",
                    "S3DataDistributionType": "ShardedByS3Key",
                }
            },
        },
        {
            "ChannelName": "stream",
            "InputMode": "Pipe",
            "CompressionType": "Gzip",
            "RecordWrapperType": "RecordIO",
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://b/s/"}},
        },
    ]
    assert input_data_config(channels, default_mode="File") == {
        "train": {
            "ContentType": "text/csv",
            "TrainingInputMode": "File",
            "S3DistributionType": "FullyReplicated",
            "RecordWrapperType": "None",
        },
        "validation": {
            "TrainingInputMode": "File",
            "S3DistributionType": "ShardedByS3Key",
            "RecordWrapperType": "None",
        },
        "stream": {
            "TrainingInputMode": "Pipe",
            "S3DistributionType": "FullyReplicated",
            "RecordWrapperType": "RecordIO",
            "CompressionType": "Gzip",
        },
    }


def test_input_data_config_uses_the_default_mode() -> None:
    channels = [{"ChannelName": "train", "DataSource": {"S3DataSource": {}}}]
    assert input_data_config(channels, "Pipe")["train"]["TrainingInputMode"] == "Pipe"
    assert input_data_config(channels, "FastFile")["train"]["TrainingInputMode"] == "File"
