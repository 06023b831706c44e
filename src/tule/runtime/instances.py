"""The instance-type catalogue, and placing an instance type's job on this machine.

SageMaker runs each host of a job on an instance with a fixed number of vCPUs, memory and GPUs.
tule runs every host on this machine, so `place` turns the instance type into limits for the
worker process: at most the instance's vCPUs as threads, at most its memory (and never more
than this machine's share), and its GPUs only if this machine has them. Figures are AWS's
published specifications for each type.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

GIB = 1 << 30
# Suggested in error messages: the general-purpose default of SageMaker's examples.
CPU_SUGGESTION = "ml.m5.xlarge"
# Accelerators that need AWS Neuron devices, which no ordinary machine has.
NEURON_ACCELERATORS = ("AWS Inferentia", "AWS Trainium")


@dataclass(frozen=True)
class InstanceType:
    """An ML instance type: vCPUs, memory (GiB), GPUs and what accelerator it carries."""

    name: str
    vcpus: int
    memory_gib: float
    gpus: int = 0
    accelerator: str | None = None


def _family(
    family: str,
    sizes: list[tuple[str, int, float, int]],
    accelerator: str | None = None,
) -> dict[str, InstanceType]:
    """Instance types `ml.<family>.<size>` from (size, vCPUs, memory GiB, GPUs) rows."""
    types = (
        InstanceType(f"ml.{family}.{size}", vcpus, memory, gpus, accelerator)
        for size, vcpus, memory, gpus in sizes
    )
    return {t.name: t for t in types}


# General purpose sizes shared by m5, m5d and m6i (m6i adds 8x, 16x and 32xlarge).
_M5_SIZES = [
    ("large", 2, 8, 0),
    ("xlarge", 4, 16, 0),
    ("2xlarge", 8, 32, 0),
    ("4xlarge", 16, 64, 0),
    ("12xlarge", 48, 192, 0),
    ("24xlarge", 96, 384, 0),
]
_M6I_SIZES = [
    *_M5_SIZES[:4],
    ("8xlarge", 32, 128, 0),
    ("12xlarge", 48, 192, 0),
    ("16xlarge", 64, 256, 0),
    ("24xlarge", 96, 384, 0),
    ("32xlarge", 128, 512, 0),
]
_BURSTABLE_SIZES = [
    ("medium", 2, 4, 0),
    ("large", 2, 8, 0),
    ("xlarge", 4, 16, 0),
    ("2xlarge", 8, 32, 0),
]

CATALOGUE: dict[str, InstanceType] = {
    **_family(
        "m4",
        [
            ("xlarge", 4, 16, 0),
            ("2xlarge", 8, 32, 0),
            ("4xlarge", 16, 64, 0),
            ("10xlarge", 40, 160, 0),
            ("16xlarge", 64, 256, 0),
        ],
    ),
    **_family("m5", _M5_SIZES),
    **_family("m5d", _M5_SIZES),
    **_family("m6i", _M6I_SIZES),
    **_family(
        "c4",
        [
            ("xlarge", 4, 7.5, 0),
            ("2xlarge", 8, 15, 0),
            ("4xlarge", 16, 30, 0),
            ("8xlarge", 36, 60, 0),
        ],
    ),
    **_family(
        "c5",
        [
            ("large", 2, 4, 0),
            ("xlarge", 4, 8, 0),
            ("2xlarge", 8, 16, 0),
            ("4xlarge", 16, 32, 0),
            ("9xlarge", 36, 72, 0),
            ("18xlarge", 72, 144, 0),
        ],
    ),
    **_family(
        "c5n",
        [
            ("xlarge", 4, 10.5, 0),
            ("2xlarge", 8, 21, 0),
            ("4xlarge", 16, 42, 0),
            ("9xlarge", 36, 96, 0),
            ("18xlarge", 72, 192, 0),
        ],
    ),
    **_family("c6i", [(size, cpus, memory / 2, 0) for size, cpus, memory, _ in _M6I_SIZES]),
    **_family("r5", [(size, cpus, memory * 2, 0) for size, cpus, memory, _ in _M6I_SIZES[:8]]),
    **_family("t2", _BURSTABLE_SIZES),
    **_family("t3", _BURSTABLE_SIZES),
    **_family(
        "p2",
        [("xlarge", 4, 61, 1), ("8xlarge", 32, 488, 8), ("16xlarge", 64, 732, 16)],
        "NVIDIA K80",
    ),
    **_family(
        "p3",
        [("2xlarge", 8, 61, 1), ("8xlarge", 32, 244, 4), ("16xlarge", 64, 488, 8)],
        "NVIDIA V100",
    ),
    **_family("p3dn", [("24xlarge", 96, 768, 8)], "NVIDIA V100"),
    **_family("p4d", [("24xlarge", 96, 1152, 8)], "NVIDIA A100"),
    **_family(
        "g4dn",
        [
            ("xlarge", 4, 16, 1),
            ("2xlarge", 8, 32, 1),
            ("4xlarge", 16, 64, 1),
            ("8xlarge", 32, 128, 1),
            ("12xlarge", 48, 192, 4),
            ("16xlarge", 64, 256, 1),
        ],
        "NVIDIA T4",
    ),
    **_family(
        "g5",
        [
            ("xlarge", 4, 16, 1),
            ("2xlarge", 8, 32, 1),
            ("4xlarge", 16, 64, 1),
            ("8xlarge", 32, 128, 1),
            ("12xlarge", 48, 192, 4),
            ("16xlarge", 64, 256, 1),
            ("24xlarge", 96, 384, 4),
            ("48xlarge", 192, 768, 8),
        ],
        "NVIDIA A10G",
    ),
    # Neuron devices are not GPUs: SageMaker reports SM_NUM_GPUS=0 on these.
    **_family(
        "inf1",
        [
            ("xlarge", 4, 8, 0),
            ("2xlarge", 8, 16, 0),
            ("6xlarge", 24, 48, 0),
            ("24xlarge", 96, 192, 0),
        ],
        "AWS Inferentia",
    ),
    **_family("trn1", [("2xlarge", 8, 32, 0), ("32xlarge", 128, 512, 0)], "AWS Trainium"),
}


def lookup(name: str) -> InstanceType | None:
    """The catalogue entry for `name` (e.g. "ml.m5.xlarge"), or None if tule does not know it."""
    return CATALOGUE.get(name)


def local_gpu_count() -> int:
    """How many NVIDIA GPUs this machine has, as `nvidia-smi -L` lists them; 0 if it cannot say."""
    program = shutil.which("nvidia-smi")
    if program is None:
        return 0
    try:
        listing = subprocess.run(
            [program, "-L"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return 0
    if listing.returncode != 0:
        return 0
    return sum(1 for line in listing.stdout.splitlines() if line.startswith("GPU "))


def local_cpu_count() -> int:
    """CPUs this process may run on (its affinity mask, which taskset and cpusets narrow)."""
    with contextlib.suppress(AttributeError, OSError):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def local_memory_bytes() -> int | None:
    """Physical memory, or the cgroup's memory limit when that is lower; None if unknown."""
    try:
        physical: int | None = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        physical = None
    with contextlib.suppress(OSError, ValueError):
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit != "max":
            physical = min(int(limit), physical) if physical else int(limit)
    return physical


@dataclass(frozen=True)
class Placement:
    """Limits for one host's worker process: thread cap, memory limit (None: none), GPUs."""

    threads: int
    memory_limit_bytes: int | None
    gpus: int


class PlacementError(Exception):
    """The instance type cannot run on this machine; str() is a FailureReason-ready sentence."""


def place(
    instance_type: str,
    *,
    instance_count: int = 1,
    cpu_count: int | None = None,
    gpu_count: int | None = None,
    memory_bytes: int | None = None,
) -> Placement:
    """Limits for each of `instance_count` hosts of `instance_type` running on this machine.

    `cpu_count`, `gpu_count` and `memory_bytes` describe the machine; they default to what it
    reports. The instances share the machine's cores (each gets its share, at least one, and
    never more than its vCPUs): on SageMaker each instance owns its vCPUs, and here several
    workers spinning more threads than there are cores slow every collective round down. An
    unknown instance type gets its share of the cores and no memory limit.
    """
    cores = max(1, (cpu_count or local_cpu_count()) // max(1, instance_count))
    spec = lookup(instance_type)
    if spec is None:
        return Placement(threads=cores, memory_limit_bytes=None, gpus=0)
    if spec.accelerator in NEURON_ACCELERATORS:
        raise PlacementError(
            f"{spec.name} runs on {spec.accelerator} chips through AWS Neuron, which tule cannot "
            f"use; choose a CPU instance type such as {CPU_SUGGESTION}"
        )
    if spec.gpus:
        _check_gpus(spec, instance_count, local_gpu_count() if gpu_count is None else gpu_count)
    machine_memory = local_memory_bytes() if memory_bytes is None else memory_bytes
    limit = int(spec.memory_gib * GIB)
    if machine_memory is not None:
        limit = min(limit, machine_memory // max(1, instance_count))
    return Placement(
        threads=max(1, min(spec.vcpus, cores)), memory_limit_bytes=limit, gpus=spec.gpus
    )


def _check_gpus(spec: InstanceType, instance_count: int, present: int) -> None:
    needed = spec.gpus * max(1, instance_count)
    if needed <= present:
        return
    gpus = f"{spec.gpus} GPU{'s' if spec.gpus > 1 else ''} ({spec.accelerator})"
    if instance_count > 1:
        what = f"{instance_count} instances of {spec.name} need {needed} GPUs ({gpus} each)"
    else:
        what = f"{spec.name} has {gpus}"
    if present == 0:
        raise PlacementError(
            f"{what} but this machine has none; choose a CPU instance type such as {CPU_SUGGESTION}"
        )
    fits = [t for t in CATALOGUE.values() if 0 < t.gpus * max(1, instance_count) <= present]
    smallest = min(fits, key=lambda t: (t.gpus, t.vcpus), default=None)
    other = f"an instance type such as {smallest.name} or " if smallest else ""
    raise PlacementError(
        f"{what} but this machine has {present}; "
        f"choose {other}a CPU instance type such as {CPU_SUGGESTION}"
    )
