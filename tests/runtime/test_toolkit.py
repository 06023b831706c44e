"""The training toolkit's steps for a local process: hyperparameters, SM_* variables, commands."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tule.runtime import toolkit
from tule.runtime.workspace import Workspace

# What the SageMaker SDK sends for `PyTorch(entry_point="train.py", hyperparameters=...)`: every
# value json.dumps-ed.
SDK_HYPERPARAMETERS = {
    "epochs": "10",
    "lr": "0.1",
    "optimizer": '"adam"',
    "use-cuda": "false",
    "layers": "[64, 32]",
    "extra": '{"b": 2, "a": 1}',
    "n": "3",
    "sagemaker_program": '"train.py"',
    "sagemaker_submit_directory": '"s3://bucket/job/source/sourcedir.tar.gz"',
    "sagemaker_container_log_level": "20",
    "sagemaker_job_name": '"job-1"',
    "sagemaker_region": '"us-east-1"',
    "sagemaker_pytorch_ddp_enabled": "true",
    "_tuning_objective_metric": '"validation:loss"',
}


def _resource_config(current_host: str = "algo-2") -> dict:
    hosts = ["algo-1", "algo-2"]
    return {
        "current_host": current_host,
        "current_instance_type": "ml.m5.xlarge",
        "current_group_name": "homogeneousCluster",
        "current_instance_group": "homogeneousCluster",
        "hosts": hosts,
        "instance_groups": [
            {
                "instance_group_name": "homogeneousCluster",
                "instance_type": "ml.m5.xlarge",
                "hosts": hosts,
            }
        ],
        "network_interface_name": "eth0",
    }


INPUT_DATA_CONFIG = {
    "train": {
        "ContentType": "text/csv",
        "TrainingInputMode": "File",
        "S3DistributionType": "FullyReplicated",
        "RecordWrapperType": "None",
    },
    "validation": {
        "TrainingInputMode": "File",
        "S3DistributionType": "FullyReplicated",
        "RecordWrapperType": "None",
    },
}


def _environment(workspace: Workspace, **overrides) -> dict[str, str]:
    arguments = {
        "job_name": "job-1",
        "raw_hyperparameters": SDK_HYPERPARAMETERS,
        "input_data_config": INPUT_DATA_CONFIG,
        "resource_config": _resource_config(),
        "num_cpus": 4,
        "num_gpus": 0,
        "entry_point": "train.py",
        "module_dir": "s3://bucket/job/source/sourcedir.tar.gz",
        "framework_module": "sagemaker_pytorch_container.training:main",
    }
    return toolkit.training_environment(workspace, **(arguments | overrides))


# ------------------------------------------------------------------------ hyperparameters


def test_sdk_encoded_values_are_json_decoded() -> None:
    user, framework = toolkit.decode_hyperparameters(SDK_HYPERPARAMETERS)
    assert user == {
        "epochs": 10,
        "lr": 0.1,
        "optimizer": "adam",
        "use-cuda": False,
        "layers": [64, 32],
        "extra": {"a": 1, "b": 2},
        "n": 3,
    }
    assert framework["sagemaker_program"] == "train.py"
    assert framework["sagemaker_container_log_level"] == 20
    assert framework["sagemaker_pytorch_ddp_enabled"] is True
    assert framework["_tuning_objective_metric"] == "validation:loss"


def test_values_that_are_not_json_stay_raw_strings() -> None:
    user, framework = toolkit.decode_hyperparameters(
        {"mode": "fast", "path": "/tmp/x", "sagemaker_program": "train.py", "empty": ""}
    )
    assert user == {"mode": "fast", "path": "/tmp/x", "empty": ""}
    assert framework == {"sagemaker_program": "train.py"}


def test_arguments_are_sorted_with_single_dash_for_one_letter_names() -> None:
    assert toolkit.user_arguments({"lr": 0.1, "b": 8, "epochs": 10}) == [
        "-b",
        "8",
        "--epochs",
        "10",
        "--lr",
        "0.1",
    ]


def test_argument_values_render_as_the_toolkit_renders_them() -> None:
    user, _ = toolkit.decode_hyperparameters(SDK_HYPERPARAMETERS)
    arguments = toolkit.user_arguments(user | {"names": ["a", "b"], "nothing": None})
    rendered = dict(zip(arguments[::2], arguments[1::2], strict=True))
    assert rendered["--use-cuda"] == "False"
    assert rendered["--extra"] == "a=1,b=2"
    # Lists go through str(), as in the toolkit's mapping.to_cmd_args: Python's repr, not JSON.
    assert rendered["--layers"] == "[64, 32]"
    assert rendered["--names"] == "['a', 'b']"
    assert rendered["--nothing"] == ""
    assert rendered["-n"] == "3"
    assert rendered["--optimizer"] == "adam"


# ------------------------------------------------------------------------ environment


def test_sm_variables_for_two_channels_on_two_hosts(tmp_path: Path) -> None:
    workspace = Workspace(tmp_path)
    env = _environment(workspace)
    assert all(isinstance(value, str) for value in env.values())

    assert env["SM_MODEL_DIR"] == str(workspace.model_dir)
    assert env["SM_CHANNELS"] == '["train","validation"]'
    assert env["SM_CHANNEL_TRAIN"] == str(workspace.channel_dir("train"))
    assert env["SM_CHANNEL_VALIDATION"] == str(workspace.channel_dir("validation"))
    assert env["SM_CURRENT_HOST"] == "algo-2"
    assert env["SM_HOSTS"] == '["algo-1","algo-2"]'
    assert env["SM_CURRENT_INSTANCE_TYPE"] == "ml.m5.xlarge"
    assert env["SM_CURRENT_INSTANCE_GROUP"] == "homogeneousCluster"
    assert env["SM_CURRENT_INSTANCE_GROUP_HOSTS"] == '["algo-1","algo-2"]'
    assert env["SM_INSTANCE_GROUPS"] == '["homogeneousCluster"]'
    assert json.loads(env["SM_INSTANCE_GROUPS_DICT"]) == {
        "homogeneousCluster": {
            "instance_group_name": "homogeneousCluster",
            "instance_type": "ml.m5.xlarge",
            "hosts": ["algo-1", "algo-2"],
        }
    }
    # sagemaker_pytorch_ddp_enabled puts the current group into distribution.
    assert env["SM_DISTRIBUTION_INSTANCE_GROUPS"] == '["homogeneousCluster"]'
    assert env["SM_IS_HETERO"] == "false"
    assert env["SM_NETWORK_INTERFACE_NAME"] == "eth0"
    assert env["SM_NUM_CPUS"] == "4"
    assert env["SM_NUM_GPUS"] == "0"
    assert env["SM_OUTPUT_DATA_DIR"] == str(workspace.output_data_dir)
    assert env["SM_OUTPUT_DIR"] == str(workspace.output_dir)
    assert env["SM_OUTPUT_INTERMEDIATE_DIR"] == str(workspace.intermediate_dir)
    assert env["SM_INPUT_DIR"] == str(workspace.input_dir)
    assert env["SM_INPUT_CONFIG_DIR"] == str(workspace.config_dir)
    assert json.loads(env["SM_RESOURCE_CONFIG"]) == _resource_config()
    assert json.loads(env["SM_INPUT_DATA_CONFIG"]) == INPUT_DATA_CONFIG
    assert env["SM_USER_ENTRY_POINT"] == "train.py"
    assert env["SM_MODULE_NAME"] == "train"
    assert env["SM_MODULE_DIR"] == "s3://bucket/job/source/sourcedir.tar.gz"
    assert env["SM_FRAMEWORK_MODULE"] == "sagemaker_pytorch_container.training:main"
    assert env["SM_LOG_LEVEL"] == "20"
    assert env["CURRENT_HOST"] == "algo-2"
    assert env["SAGEMAKER_JOB_NAME"] == "job-1"
    assert env["SAGEMAKER_REGION"] == "us-east-1"


def test_values_are_verbatim_strings_or_compact_sorted_json(tmp_path: Path) -> None:
    env = _environment(Workspace(tmp_path))
    assert env["SM_HPS"] == (
        '{"epochs":10,"extra":{"a":1,"b":2},"layers":[64,32],"lr":0.1,"n":3,'
        '"optimizer":"adam","use-cuda":false}'
    )
    assert env["SM_HP_EPOCHS"] == "10"
    assert env["SM_HP_LR"] == "0.1"
    assert env["SM_HP_OPTIMIZER"] == "adam"
    # Only upper-cased: other characters of the name are kept.
    assert env["SM_HP_USE-CUDA"] == "false"
    assert env["SM_HP_EXTRA"] == '{"a":1,"b":2}'
    assert env["SM_HP_LAYERS"] == "[64,32]"
    assert not any(name.startswith("SM_HP_SAGEMAKER") for name in env)
    assert "SM_HP__TUNING_OBJECTIVE_METRIC" not in env


def test_framework_params_hold_only_the_unreserved_sagemaker_keys(tmp_path: Path) -> None:
    env = _environment(Workspace(tmp_path))
    assert json.loads(env["SM_FRAMEWORK_PARAMS"]) == {"sagemaker_pytorch_ddp_enabled": True}


def test_user_args_match_the_command_line(tmp_path: Path) -> None:
    env = _environment(Workspace(tmp_path))
    user, _ = toolkit.decode_hyperparameters(SDK_HYPERPARAMETERS)
    assert json.loads(env["SM_USER_ARGS"]) == toolkit.user_arguments(user)


def test_training_env_has_the_toolkit_environment_keys(tmp_path: Path) -> None:
    workspace = Workspace(tmp_path)
    training_env = json.loads(_environment(workspace)["SM_TRAINING_ENV"])
    assert set(training_env) >= {
        "additional_framework_parameters",
        "channel_input_dirs",
        "current_host",
        "current_instance_group",
        "current_instance_group_hosts",
        "current_instance_type",
        "distribution_hosts",
        "distribution_instance_groups",
        "framework_module",
        "hosts",
        "hyperparameters",
        "input_config_dir",
        "input_data_config",
        "input_dir",
        "instance_groups",
        "instance_groups_dict",
        "is_hetero",
        "is_master",
        "job_name",
        "log_level",
        "master_hostname",
        "model_dir",
        "module_dir",
        "module_name",
        "network_interface_name",
        "num_cpus",
        "num_gpus",
        "output_data_dir",
        "output_dir",
        "output_intermediate_dir",
        "resource_config",
        "user_entry_point",
    }
    assert training_env["channel_input_dirs"] == {
        "train": str(workspace.channel_dir("train")),
        "validation": str(workspace.channel_dir("validation")),
    }
    assert training_env["job_name"] == "job-1"
    assert training_env["hyperparameters"]["epochs"] == 10
    assert training_env["master_hostname"] == "algo-1"
    assert training_env["is_master"] is False
    assert training_env["distribution_hosts"] == ["algo-1", "algo-2"]


def test_master_host_is_the_first_host(tmp_path: Path) -> None:
    env = _environment(Workspace(tmp_path), resource_config=_resource_config("algo-1"))
    training_env = json.loads(env["SM_TRAINING_ENV"])
    assert training_env["is_master"] is True
    assert training_env["current_host"] == "algo-1"


def test_no_distribution_without_a_distribution_parameter(tmp_path: Path) -> None:
    raw = {k: v for k, v in SDK_HYPERPARAMETERS.items() if k != "sagemaker_pytorch_ddp_enabled"}
    env = _environment(Workspace(tmp_path), raw_hyperparameters=raw, framework_module=None)
    assert env["SM_DISTRIBUTION_INSTANCE_GROUPS"] == "[]"
    assert env["SM_FRAMEWORK_PARAMS"] == "{}"
    # None is written as an empty string, as the toolkit's to_env_vars does.
    assert env["SM_FRAMEWORK_MODULE"] == ""


def test_distributed_environment_ranks_follow_sorted_hosts() -> None:
    env = toolkit.distributed_environment(["algo-2", "algo-1", "algo-3"], "algo-2", 29500)
    assert env == {
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": "29500",
        "WORLD_SIZE": "3",
        "RANK": "1",
        "LOCAL_RANK": "0",
        "LOCAL_WORLD_SIZE": "1",
        "NODE_RANK": "1",
    }


def test_distributed_environment_gives_each_host_its_own_gpus() -> None:
    env = toolkit.distributed_environment(["algo-1", "algo-2"], "algo-2", 29500, gpus_per_host=2)
    assert env["CUDA_VISIBLE_DEVICES"] == "2,3"


def test_distributed_environment_rejects_an_unknown_host() -> None:
    with pytest.raises(ValueError, match="algo-9"):
        toolkit.distributed_environment(["algo-1"], "algo-9", 29500)


# ------------------------------------------------------------------------ command


def test_script_command_per_entry_point_type(tmp_path: Path) -> None:
    args = {"epochs": 2}
    assert toolkit.script_command("py", tmp_path, "train.py", args) == [
        "py",
        "train.py",
        "--epochs",
        "2",
    ]
    assert toolkit.script_command("py", tmp_path, "run.sh", args) == [
        "/bin/sh",
        "run.sh",
        "--epochs",
        "2",
    ]
    assert toolkit.script_command("py", tmp_path, "train", args) == ["./train", "--epochs", "2"]
    (tmp_path / "setup.py").write_text("")
    assert toolkit.script_command("py", tmp_path, "train.py", args) == [
        "py",
        "-m",
        "train",
        "--epochs",
        "2",
    ]


TRAIN_SCRIPT = """\
import argparse, json, os

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int)
parser.add_argument("--lr", type=float)
parser.add_argument("--optimizer")
parser.add_argument("--use-cuda", type=lambda s: s == "True")
parser.add_argument("--extra")
parser.add_argument("--layers")
parser.add_argument("-n", type=int)
args = parser.parse_args()

with open(os.path.join(os.environ["SM_CHANNEL_TRAIN"], "data.csv")) as f:
    rows = f.read().splitlines()
with open(os.path.join(os.environ["SM_MODEL_DIR"], "model.json"), "w") as f:
    json.dump({**vars(args), "rows": rows, "cwd": os.getcwd()}, f)
"""


def test_a_script_reads_its_arguments_and_sm_directories(tmp_path: Path) -> None:
    workspace = Workspace(tmp_path)
    code_dir = tmp_path / "code"
    code_dir.mkdir()
    (code_dir / "train.py").write_text(TRAIN_SCRIPT)
    workspace.channel_dir("train").mkdir(parents=True)
    (workspace.channel_dir("train") / "data.csv").write_text("1,2\n3,4\n")
    workspace.model_dir.mkdir(parents=True)

    user, _ = toolkit.decode_hyperparameters(SDK_HYPERPARAMETERS)
    command = toolkit.script_command(sys.executable, code_dir, "train.py", user)
    env = {**os.environ, **_environment(workspace)}
    result = subprocess.run(command, cwd=code_dir, env=env, capture_output=True, text=True)

    assert result.returncode == 0, result.stderr
    model = json.loads((workspace.model_dir / "model.json").read_text())
    assert Path(model.pop("cwd")).resolve() == code_dir.resolve()
    assert model == {
        "epochs": 10,
        "lr": 0.1,
        "optimizer": "adam",
        "use_cuda": False,
        "extra": "a=1,b=2",
        "layers": "[64, 32]",
        "n": 3,
        "rows": ["1,2", "3,4"],
    }
