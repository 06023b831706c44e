"""A restart loses nothing: executions, their results, workgroups and saved queries."""

from __future__ import annotations

from pathlib import Path

from athena_helpers import RESULTS, rows, run

from tule.testing import TuleServer


def test_executions_results_and_workgroups_survive_a_restart(tmp_path: Path) -> None:
    with TuleServer(tmp_path, fsync=False) as first:
        first.client("s3").create_bucket(Bucket="athena-results")
        athena = first.client("athena")
        execution = run(
            athena, "SELECT x, x * x AS sq FROM (VALUES 1, 2, 3) AS t(x) ORDER BY x", database=None
        )
        query_id = execution["QueryExecutionId"]
        athena.create_work_group(
            Name="kept", Configuration={"ResultConfiguration": {"OutputLocation": RESULTS}}
        )
        named = athena.create_named_query(Name="n", Database="db", QueryString="SELECT 1")[
            "NamedQueryId"
        ]
    with TuleServer(tmp_path, fsync=False) as second:
        athena = second.client("athena")
        again = athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
        assert again["Status"]["State"] == "SUCCEEDED"
        assert again["Statistics"] == execution["Statistics"]
        assert rows(athena, query_id) == [["x", "sq"], ["1", "1"], ["2", "4"], ["3", "9"]]
        info = athena.get_query_results(QueryExecutionId=query_id)["ResultSet"]["ResultSetMetadata"]
        assert [c["Type"] for c in info["ColumnInfo"]] == ["integer", "integer"]
        assert athena.get_work_group(WorkGroup="kept")["WorkGroup"]["Configuration"][
            "ResultConfiguration"
        ] == {"OutputLocation": RESULTS}
        assert athena.get_named_query(NamedQueryId=named)["NamedQuery"]["QueryString"] == "SELECT 1"
        assert query_id in athena.list_query_executions()["QueryExecutionIds"]
