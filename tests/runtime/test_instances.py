"""The instance-type catalogue and placing instance types on this machine."""

from __future__ import annotations

import pytest

from tule.runtime.instances import (
    CATALOGUE,
    GIB,
    InstanceType,
    Placement,
    PlacementError,
    local_gpu_count,
    lookup,
    place,
)

FAMILIES = [
    "m4",
    "m5",
    "m5d",
    "m6i",
    "c4",
    "c5",
    "c5n",
    "c6i",
    "r5",
    "t2",
    "t3",
    "p2",
    "p3",
    "p3dn",
    "p4d",
    "g4dn",
    "g5",
    "inf1",
    "trn1",
]


def test_catalogue_covers_every_family() -> None:
    families = {name.split(".")[1] for name in CATALOGUE}
    assert families == set(FAMILIES)
    for name, spec in CATALOGUE.items():
        assert spec.name == name and name.startswith("ml.")
        assert spec.vcpus > 0 and spec.memory_gib > 0
        assert (spec.gpus > 0) == (spec.accelerator or "").startswith("NVIDIA")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("ml.m5.xlarge", InstanceType("ml.m5.xlarge", 4, 16)),
        ("ml.c4.xlarge", InstanceType("ml.c4.xlarge", 4, 7.5)),
        ("ml.c5n.9xlarge", InstanceType("ml.c5n.9xlarge", 36, 96)),
        ("ml.c6i.32xlarge", InstanceType("ml.c6i.32xlarge", 128, 256)),
        ("ml.r5.large", InstanceType("ml.r5.large", 2, 16)),
        ("ml.r5.24xlarge", InstanceType("ml.r5.24xlarge", 96, 768)),
        ("ml.t3.medium", InstanceType("ml.t3.medium", 2, 4)),
        ("ml.p3.2xlarge", InstanceType("ml.p3.2xlarge", 8, 61, 1, "NVIDIA V100")),
        ("ml.p4d.24xlarge", InstanceType("ml.p4d.24xlarge", 96, 1152, 8, "NVIDIA A100")),
        ("ml.g4dn.12xlarge", InstanceType("ml.g4dn.12xlarge", 48, 192, 4, "NVIDIA T4")),
        ("ml.g5.48xlarge", InstanceType("ml.g5.48xlarge", 192, 768, 8, "NVIDIA A10G")),
        ("ml.trn1.32xlarge", InstanceType("ml.trn1.32xlarge", 128, 512, 0, "AWS Trainium")),
    ],
)
def test_lookup_returns_published_specifications(name: str, expected: InstanceType) -> None:
    assert lookup(name) == expected


def test_lookup_of_an_unknown_type_is_none() -> None:
    assert lookup("ml.x99.huge") is None


def test_local_gpu_count_never_raises() -> None:
    assert local_gpu_count() >= 0


def test_threads_are_capped_by_vcpus_and_cores() -> None:
    assert place("ml.m5.xlarge", cpu_count=16, memory_bytes=64 * GIB).threads == 4
    assert place("ml.m5.24xlarge", cpu_count=16, memory_bytes=64 * GIB).threads == 16
    assert place("ml.m5.xlarge").threads >= 1


def test_memory_limit_is_the_instance_memory_within_the_machine_share() -> None:
    assert place("ml.m5.xlarge", cpu_count=8, memory_bytes=64 * GIB) == Placement(4, 16 * GIB, 0)
    assert place("ml.m5.xlarge", cpu_count=2, memory_bytes=8 * GIB).memory_limit_bytes == 8 * GIB
    two = place("ml.m5.xlarge", instance_count=2, cpu_count=2, memory_bytes=24 * GIB)
    assert two.memory_limit_bytes == 12 * GIB


def test_an_unknown_type_gets_the_machine() -> None:
    assert place("ml.x99.huge", cpu_count=6) == Placement(6, None, 0)


def test_a_gpu_type_on_a_machine_without_gpus_is_refused() -> None:
    with pytest.raises(PlacementError) as error:
        place("ml.p3.2xlarge", gpu_count=0)
    assert str(error.value) == (
        "ml.p3.2xlarge has 1 GPU (NVIDIA V100) but this machine has none; "
        "choose a CPU instance type such as ml.m5.xlarge"
    )


def test_a_gpu_type_needing_more_gpus_than_present_is_refused() -> None:
    with pytest.raises(PlacementError, match=r"has 4 GPUs \(NVIDIA T4\) but this machine has 1"):
        place("ml.g4dn.12xlarge", gpu_count=1)
    with pytest.raises(PlacementError, match=r"2 instances of ml\.g5\.xlarge need 2 GPUs"):
        place("ml.g5.xlarge", instance_count=2, gpu_count=1)


def test_a_gpu_type_fits_when_the_gpus_are_there() -> None:
    placement = place("ml.g5.12xlarge", cpu_count=64, gpu_count=4, memory_bytes=512 * GIB)
    assert placement == Placement(48, 192 * GIB, 4)


@pytest.mark.parametrize("name", ["ml.inf1.xlarge", "ml.trn1.2xlarge"])
def test_neuron_types_are_refused(name: str) -> None:
    with pytest.raises(PlacementError, match="AWS Neuron, which tule cannot use; choose a CPU"):
        place(name, gpu_count=8)
