"""The catalog survives a restart: databases, tables, versions, partitions and tags."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from glue_helpers import DB, TABLE, all_partitions, partition_input, table_input, values_of

from tule.clock import ManualClock
from tule.testing import TuleServer

ACCOUNT = "000000000000"


def _fill(glue: Any) -> None:
    glue.create_database(DatabaseInput={"Name": DB, "Description": "kept"}, Tags={"t": "1"})
    glue.create_table(DatabaseName=DB, TableInput=table_input(partition_keys=[("year", "int")]))
    glue.update_table(
        DatabaseName=DB,
        TableInput=table_input(partition_keys=[("year", "int")], Description="v1"),
    )
    glue.batch_create_partition(
        DatabaseName=DB,
        TableName=TABLE,
        PartitionInputList=[partition_input(str(y)) for y in range(2020, 2025)],
    )
    glue.delete_partition(DatabaseName=DB, TableName=TABLE, PartitionValues=["2022"])


def test_everything_is_still_there_after_a_restart(tmp_path: Path) -> None:
    clock = ManualClock(start=1_700_000_000.0)
    with TuleServer(tmp_path, clock=clock) as first:
        glue = first.client("glue")
        _fill(glue)
        before = glue.get_table(DatabaseName=DB, Name=TABLE)["Table"]
    with TuleServer(tmp_path, clock=clock) as second:
        glue = second.client("glue")
        assert glue.get_database(Name=DB)["Database"]["Description"] == "kept"
        assert glue.get_table(DatabaseName=DB, Name=TABLE)["Table"] == before
        versions = glue.get_table_versions(DatabaseName=DB, TableName=TABLE)["TableVersions"]
        assert [v["VersionId"] for v in versions] == ["1", "0"]
        assert values_of(all_partitions(glue)) == [["2020"], ["2021"], ["2023"], ["2024"]]
        assert values_of(all_partitions(glue, Expression="year > 2022")) == [["2023"], ["2024"]]
        arn = f"arn:aws:glue:us-east-1:{ACCOUNT}:database/{DB}"
        assert glue.get_tags(ResourceArn=arn)["Tags"] == {"t": "1"}
        # And it keeps working where it left off: the next version is 2.
        glue.update_table(DatabaseName=DB, TableInput=table_input(partition_keys=[("year", "int")]))
        assert glue.get_table(DatabaseName=DB, Name=TABLE)["Table"]["VersionId"] == "2"
