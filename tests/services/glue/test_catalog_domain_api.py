"""The in-process API other services (crawlers, Athena, Firehose) call: `Glue(env).catalog`."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from glue_helpers import partition_input, table_input

from tule.clock import ManualClock
from tule.config import Settings
from tule.errors import AwsError
from tule.services.base import ServiceEnv
from tule.services.glue import Catalog, Glue, Segment

A, R = "123456789012", "eu-central-1"


@pytest.fixture
def glue(tmp_path: Path) -> Iterator[Glue]:
    env = ServiceEnv(
        Settings(data_dir=tmp_path, fsync=False), ManualClock(1_700_000_000.0), tmp_path / "glue"
    )
    domain = Glue(env)
    yield domain
    domain.close()


@pytest.fixture
def catalog(glue: Glue) -> Catalog:
    glue.catalog.create_database(A, R, {"Name": "Lake"})
    glue.catalog.create_table(
        A, R, "lake", table_input("Events", partition_keys=[("dt", "string"), ("hour", "int")])
    )
    return glue.catalog


def test_values_are_aws_shapes_with_datetimes(catalog: Catalog) -> None:
    database = catalog.get_database(A, R, "lake")
    table = catalog.get_table(A, R, "LAKE", "events")
    assert database["CatalogId"] == A
    assert isinstance(database["CreateTime"], datetime)
    assert table["Name"] == "events"
    assert table["VersionId"] == "0"
    assert isinstance(table["UpdateTime"], datetime)
    assert [d["Name"] for d in catalog.get_databases(A, R)] == ["lake"]
    assert catalog.get_databases(A, "us-east-1") == []


def test_tables_listed_and_filtered_by_name(catalog: Catalog) -> None:
    catalog.create_table(A, R, "lake", table_input("other"))
    assert [t["Name"] for t in catalog.get_tables(A, R, "lake")] == ["events", "other"]
    assert [t["Name"] for t in catalog.get_tables(A, R, "lake", "ev*")] == ["events"]


def test_partitions_round_trip_and_filter(catalog: Catalog) -> None:
    inputs = [partition_input("2024-01-01", str(h)) for h in range(24)]
    assert catalog.batch_create_partition(A, R, "lake", "events", inputs) == []
    catalog.create_partition(A, R, "lake", "events", partition_input("2024-01-02", "0"))
    got = catalog.get_partition(A, R, "lake", "events", ["2024-01-02", "0"])
    assert got["Values"] == ["2024-01-02", "0"]
    late = catalog.get_partitions(A, R, "lake", "events", "dt = '2024-01-01' AND hour >= 20")
    assert sorted(int(p["Values"][1]) for p in late) == [20, 21, 22, 23]
    halves = [
        catalog.get_partitions(A, R, "lake", "events", segment=Segment(n, 2)) for n in range(2)
    ]
    assert sum(len(h) for h in halves) == 25
    catalog.update_partition(
        A, R, "lake", "events", ["2024-01-02", "0"], {"Values": ["2024-01-02", "0"]}
    )
    catalog.delete_partition(A, R, "lake", "events", ["2024-01-02", "0"])
    assert len(catalog.get_partitions(A, R, "lake", "events")) == 24


def test_update_table_versions_and_skip_archive(catalog: Catalog) -> None:
    shape = table_input("events", partition_keys=[("dt", "string"), ("hour", "int")])
    catalog.update_table(A, R, "lake", shape | {"Description": "one"})
    catalog.update_table(A, R, "lake", shape | {"Description": "two"}, skip_archive=True)
    versions = catalog.get_table_versions(A, R, "lake", "events")
    assert [v["VersionId"] for v in versions] == ["2", "0"]
    assert versions[0]["Table"]["Description"] == "two"


def test_update_table_accepts_a_table_read_back(catalog: Catalog) -> None:
    # Crawlers read a table, change it and write it back: Table-only members are ignored.
    table = catalog.get_table(A, R, "lake", "events")
    table["Parameters"] = {"classification": "csv"}
    catalog.update_table(A, R, "lake", table)
    again = catalog.get_table(A, R, "lake", "events")
    assert again["Parameters"] == {"classification": "csv"}
    assert again["VersionId"] == "1"
    assert again["CreateTime"] == table["CreateTime"]


def test_errors_are_aws_errors(catalog: Catalog) -> None:
    with pytest.raises(AwsError) as error:
        catalog.get_table(A, R, "lake", "nope")
    assert (error.value.code, error.value.message) == (
        "EntityNotFoundException",
        "Table nope not found.",
    )
    with pytest.raises(AwsError) as error:
        catalog.create_partition(A, R, "lake", "events", partition_input("only-one"))
    assert error.value.code == "InvalidInputException"
    catalog.delete_table(A, R, "lake", "events")
    catalog.delete_database(A, R, "lake")
    with pytest.raises(AwsError) as error:
        catalog.get_database(A, R, "lake")
    assert error.value.message == "Database lake not found."


def test_register_taggable_lets_other_kinds_be_tagged(glue: Glue) -> None:
    known = {"nightly"}
    glue.register_taggable("crawler", lambda account, region, name: name in known)
    arn = f"arn:aws:glue:{R}:{A}:crawler/nightly"
    assert glue.require_taggable(arn) == arn
    glue.tags.add(arn, {"k": "v"})
    assert glue.tags.get(arn) == {"k": "v"}
    with pytest.raises(AwsError) as error:
        glue.require_taggable(f"arn:aws:glue:{R}:{A}:crawler/other")
    assert error.value.code == "EntityNotFoundException"
