"""What the SageMaker training toolkit does before it runs a user's script, for a local process.

SageMaker's framework images (scikit-learn, PyTorch, TensorFlow, XGBoost, Hugging Face, ...) run
"script mode" through the sagemaker-training-toolkit: it decodes the hyperparameters the SDK
JSON-encoded, splits off the reserved `sagemaker_*` ones, turns the rest into command-line
arguments, exports the `SM_*` variables (specs/aws-apis.md §2.8) and runs the entry point from
`/opt/ml/code`. tule runs the script as a plain subprocess instead of inside the image, so this
module reproduces those steps with the job workspace's real paths in place of `/opt/ml/...`.

Nothing here writes files or starts processes: it computes argument lists and environment
mappings (looking only for a `setup.py`), so the runtime decides how and where the process starts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tule.runtime.workspace import Workspace

FRAMEWORK_PREFIX = "sagemaker_"

# The toolkit's `params.SAGEMAKER_HYPERPARAMETERS`: reserved names it removes from the user's
# hyperparameters but does not report in `SM_FRAMEWORK_PARAMS` (that holds only the other
# `sagemaker_*` keys, the toolkit's "additional framework parameters").
_RESERVED = frozenset(
    {
        "sagemaker_program",
        "sagemaker_submit_directory",
        "sagemaker_enable_cloudwatch_metrics",
        "sagemaker_region",
        "sagemaker_container_log_level",
        "sagemaker_job_name",
        "default_user_module_name",
        "_tuning_objective_metric",
        "sagemaker_s3_output",
    }
)

# Framework parameters that put the current instance group into distributed training when
# `sagemaker_distribution_instance_groups` is absent (toolkit `environment.py`).
_DISTRIBUTION_FLAGS = (
    "sagemaker_mpi_enabled",
    "sagemaker_parameter_server_enabled",
    "sagemaker_distributed_dataparallel_enabled",
    "sagemaker_pytorch_ddp_enabled",
    "sagemaker_pytorch_xla_multi_worker_enabled",
    "sagemaker_multi_worker_mirrored_strategy_enabled",
    "sagemaker_torch_distributed_enabled",
)

_DEFAULT_GROUP = "homogeneousCluster"


# ------------------------------------------------------------------------ hyperparameters


def decode_hyperparameters(raw: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(user hyperparameters, framework parameters) from a request's `HyperParameters`.

    The SDK JSON-encodes every value (`"\\"train.py\\""`, `"10"`), so each one is `json.loads`-ed,
    and a value that is not JSON (a hand-written `HyperParameters` from boto3) stays the string it
    was, as the toolkit's `read_hyperparameters` does. Framework parameters are every key that
    starts with `sagemaker_` plus the reserved names that do not (`_tuning_objective_metric`);
    they never reach the user's script as arguments.
    """
    user: dict[str, Any] = {}
    framework: dict[str, Any] = {}
    for key, value in raw.items():
        try:
            decoded = json.loads(value)
        except (ValueError, TypeError):
            decoded = value
        if key.startswith(FRAMEWORK_PREFIX) or key in _RESERVED:
            framework[key] = decoded
        else:
            user[key] = decoded
    return user, framework


def _text(value: Any) -> str:
    """The toolkit's `mapping._decode`: `str()` of anything, `None` as empty, bytes as latin-1."""
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("latin1")
    return str(value)


def user_arguments(hyperparameters: Mapping[str, Any]) -> list[str]:
    """The script's command-line arguments, as the toolkit's `mapping.to_cmd_args` renders them.

    Sorted by name; `--name value`, or `-x value` for a one-character name. Values are Python's
    `str()` of the decoded JSON, so booleans are `True`/`False`, and a dict becomes
    `k=v,k2=v2` (sorted by key). Lists are not JSON: the toolkit uses `str()` for them too, so
    `[1, 2]` arrives as `[1, 2]` and `["a", "b"]` as `['a', 'b']` (Python's repr). Scripts written
    for SageMaker parse exactly that, so it is reproduced rather than improved.
    """
    arguments: list[str] = []
    for key in sorted(hyperparameters):
        name = _text(key)
        if name:
            name = f"--{name}" if len(name) > 1 else f"-{name}"
        value = hyperparameters[key]
        if isinstance(value, Mapping):
            rendered = ",".join(f"{k}={v}" for k, v in sorted(value.items()))
        else:
            rendered = _text(value)
        arguments += [name, rendered]
    return arguments


# ------------------------------------------------------------------------ environment


def _env_value(value: Any) -> str:
    """The toolkit's `mapping.to_env_vars` encoding: strings verbatim, else compact sorted JSON."""
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("latin1")
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def _module_name(entry_point: str) -> str:
    return entry_point.removesuffix(".py")


def training_environment(
    workspace: Workspace,
    *,
    job_name: str,
    raw_hyperparameters: Mapping[str, str],
    input_data_config: Mapping[str, Any],
    resource_config: Mapping[str, Any],
    num_cpus: int,
    num_gpus: int,
    entry_point: str,
    module_dir: str,
    framework_module: str | None,
    log_level: int = 20,
) -> dict[str, str]:
    """The variables the toolkit exports before running the entry point.

    `input_data_config` and `resource_config` are the contents of `inputdataconfig.json` and
    `resourceconfig.json` (spec §2.7); the current host, hosts and instance groups come from the
    latter. Besides `SM_*` this includes what the toolkit sets in its own process (and so passes
    on): `CURRENT_HOST`, `SAGEMAKER_JOB_NAME` and `SAGEMAKER_REGION`. Platform variables
    (`TRAINING_JOB_NAME`, `AWS_*`) are the caller's business.
    """
    hyperparameters, framework = decode_hyperparameters(raw_hyperparameters)
    additional = {k: v for k, v in framework.items() if k not in _RESERVED}

    hosts = list(resource_config["hosts"])
    current_host = resource_config["current_host"]
    # The toolkit reads the group name from `current_group_name` (spec §2.7 writes both keys).
    current_group = resource_config.get("current_group_name", _DEFAULT_GROUP)
    groups: list[Mapping[str, Any]] = list(resource_config.get("instance_groups", []))
    instance_groups = [group["instance_group_name"] for group in groups]
    instance_groups_dict = {group["instance_group_name"]: dict(group) for group in groups}
    current_group_hosts = next(
        (list(g["hosts"]) for g in groups if g["instance_group_name"] == current_group), []
    )
    if "sagemaker_distribution_instance_groups" in additional:
        distribution_groups = list(additional["sagemaker_distribution_instance_groups"])
    elif any(additional.get(flag) for flag in _DISTRIBUTION_FLAGS):
        distribution_groups = [current_group]
    else:
        distribution_groups = []
    if groups:
        distribution_hosts = [
            host
            for group in groups
            if group["instance_group_name"] in distribution_groups
            for host in group["hosts"]
        ]
    else:
        distribution_hosts = list(hosts)
    master_hostname = distribution_hosts[0] if distribution_hosts else hosts[0]

    channels = {name: str(workspace.channel_dir(name)) for name in input_data_config}
    mp_parameters = hyperparameters.get("mp_parameters")
    arguments = user_arguments(hyperparameters)

    # The toolkit's `Environment` is a mapping of its properties; `SM_TRAINING_ENV` is that
    # mapping, so these are exactly its property names.
    training_env: dict[str, Any] = {
        "additional_framework_parameters": additional,
        "channel_input_dirs": channels,
        "current_host": current_host,
        "current_instance_group": current_group,
        "current_instance_group_hosts": current_group_hosts,
        "current_instance_type": resource_config.get("current_instance_type", "local"),
        "distribution_hosts": distribution_hosts,
        "distribution_instance_groups": distribution_groups,
        "framework_module": framework_module,
        "hosts": hosts,
        "hyperparameters": hyperparameters,
        "input_config_dir": str(workspace.config_dir),
        "input_data_config": dict(input_data_config),
        "input_dir": str(workspace.input_dir),
        "instance_groups": instance_groups,
        "instance_groups_dict": instance_groups_dict,
        "is_hetero": len(instance_groups) > 1,
        "is_master": current_host == master_hostname,
        "is_modelparallel_enabled": bool(mp_parameters) and mp_parameters != "{}",
        "is_smddpmprun_installed": False,
        "job_name": job_name,
        "log_level": log_level,
        "master_hostname": master_hostname,
        "model_dir": str(workspace.model_dir),
        "module_dir": module_dir,
        "module_name": _module_name(entry_point),
        "network_interface_name": resource_config.get("network_interface_name", "eth0"),
        "num_cpus": num_cpus,
        "num_gpus": num_gpus,
        "num_neurons": 0,
        "output_data_dir": str(workspace.output_data_dir),
        "output_dir": str(workspace.output_dir),
        "output_intermediate_dir": str(workspace.intermediate_dir),
        "resource_config": dict(resource_config),
        "user_entry_point": entry_point,
    }

    # The toolkit's `Environment.to_env_vars`: these keys, upper-cased behind `SM_`.
    variables: dict[str, Any] = {
        "hosts": hosts,
        "network_interface_name": training_env["network_interface_name"],
        "hps": hyperparameters,
        "user_entry_point": entry_point,
        "framework_params": additional,
        "resource_config": training_env["resource_config"],
        "input_data_config": training_env["input_data_config"],
        "output_data_dir": training_env["output_data_dir"],
        "channels": sorted(channels),
        "current_host": current_host,
        "current_instance_type": training_env["current_instance_type"],
        "current_instance_group": current_group,
        "current_instance_group_hosts": current_group_hosts,
        "instance_groups": instance_groups,
        "instance_groups_dict": instance_groups_dict,
        "distribution_instance_groups": distribution_groups,
        "is_hetero": training_env["is_hetero"],
        "module_name": training_env["module_name"],
        "log_level": log_level,
        "framework_module": framework_module,
        "input_dir": training_env["input_dir"],
        "input_config_dir": training_env["input_config_dir"],
        "output_dir": training_env["output_dir"],
        "num_cpus": num_cpus,
        "num_gpus": num_gpus,
        "num_neurons": 0,
        "model_dir": training_env["model_dir"],
        "module_dir": module_dir,
        "training_env": training_env,
        "user_args": arguments,
        "output_intermediate_dir": training_env["output_intermediate_dir"],
    }
    for name, path in channels.items():
        variables[f"channel_{name}"] = path
    for key, value in hyperparameters.items():
        variables[f"hp_{key}"] = value

    env = {f"SM_{str(key).upper()}": _env_value(value) for key, value in variables.items()}
    # Set by the toolkit in its own environment before it starts the script (environment.py).
    env["CURRENT_HOST"] = current_host
    env["SAGEMAKER_JOB_NAME"] = _text(framework.get("sagemaker_job_name", ""))
    env["SAGEMAKER_REGION"] = _text(framework.get("sagemaker_region", ""))
    return env


def distributed_environment(
    hosts: list[str], current_host: str, master_port: int, gpus_per_host: int = 0
) -> dict[str, str]:
    """torch.distributed's `env://` variables for one process per host, all on this machine.

    Every "host" is a local process, so the master is the loopback address. Ranks follow the
    sorted host list, as SageMaker sorts hosts (the first is the master). With `gpus_per_host`
    each host also gets its own slice of the machine's GPUs through `CUDA_VISIBLE_DEVICES`, so
    two hosts never train on the same device; with 0 the variable is left alone.
    """
    ordered = sorted(hosts)
    if current_host not in ordered:
        raise ValueError(f"Host '{current_host}' is not one of the job's hosts {ordered}.")
    rank = ordered.index(current_host)
    env = {
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(master_port),
        "WORLD_SIZE": str(len(ordered)),
        "RANK": str(rank),
        "LOCAL_RANK": "0",
        "LOCAL_WORLD_SIZE": "1",
        "NODE_RANK": str(rank),
    }
    if gpus_per_host > 0:
        first = rank * gpus_per_host
        env["CUDA_VISIBLE_DEVICES"] = ",".join(
            str(device) for device in range(first, first + gpus_per_host)
        )
    return env


# ------------------------------------------------------------------------ command


def script_command(
    python: str, code_dir: Path, entry_point: str, hyperparameters: Mapping[str, Any]
) -> list[str]:
    """The command that runs the entry point, to be started with `cwd=code_dir`.

    Follows the toolkit's entry-point types (`_entry_point_type.get`): a `.sh` file runs under
    `/bin/sh`; a source directory with `setup.py` is a package whose entry module runs with
    `python -m` (the toolkit pip-installs it first; from `cwd=code_dir` it imports without
    that); any other `.py` runs as a program; anything else is executed directly (the toolkit
    marks it executable first, which is the caller's job here).
    """
    arguments = user_arguments(hyperparameters)
    if entry_point.endswith(".sh"):
        return ["/bin/sh", entry_point, *arguments]
    if (Path(code_dir) / "setup.py").is_file():
        return [python, "-m", _module_name(entry_point), *arguments]
    if entry_point.endswith(".py"):
        return [python, entry_point, *arguments]
    return [f"./{entry_point}", *arguments]
