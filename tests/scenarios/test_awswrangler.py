"""awswrangler against tule: write a dataset to S3 + Glue, list it, query it with Athena.

awswrangler (AWS SDK for pandas) drives S3, Glue and Athena with boto3; pointed at a tule
server it must round-trip a DataFrame: `wr.s3.to_parquet(..., dataset=True, database, table)`
writes Parquet and registers the table in Glue, `wr.catalog.tables()` lists it, and
`wr.athena.read_sql_query` returns the query's DataFrame, both through a CTAS that writes
Parquet (the default) and through the result CSV (`ctas_approach=False`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pandas as pd
import pytest

from tule.testing import TuleServer
from tule.testing.server import TEST_ACCESS_KEY, TEST_SECRET_KEY

wr = pytest.importorskip("awswrangler")


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[boto3.Session]:
    with TuleServer(tmp_path_factory.mktemp("wrangler"), fsync=False) as server:
        server.client("s3").create_bucket(Bucket="lake")
        server.client("s3").create_bucket(Bucket="results")
        saved = {
            name: getattr(wr.config, name)
            for name in (
                "s3_endpoint_url",
                "athena_endpoint_url",
                "glue_endpoint_url",
                "sts_endpoint_url",
            )
        }
        for name in saved:
            setattr(wr.config, name, server.endpoint_url)
        try:
            yield boto3.Session(
                aws_access_key_id=TEST_ACCESS_KEY,
                aws_secret_access_key=TEST_SECRET_KEY,
                region_name="us-east-1",
            )
        finally:
            for name, value in saved.items():
                setattr(wr.config, name, value)


@pytest.fixture(scope="module")
def dataset(session: boto3.Session) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "id": list(range(30)),
            "name": [f"n{i}" for i in range(30)],
            "score": [i * 0.5 for i in range(30)],
            "part": ["a", "b", "c"] * 10,
        }
    )
    wr.catalog.create_database("analytics", boto3_session=session)
    wr.s3.to_parquet(
        frame,
        "s3://lake/people/",
        dataset=True,
        database="analytics",
        table="people",
        partition_cols=["part"],
        boto3_session=session,
    )
    return frame


def test_to_parquet_registers_the_table_in_glue(
    session: boto3.Session, dataset: pd.DataFrame
) -> None:
    tables = wr.catalog.tables(database="analytics", boto3_session=session)
    assert list(tables["Table"]) == ["people"]
    types = wr.catalog.get_table_types(database="analytics", table="people", boto3_session=session)
    assert types == {"id": "bigint", "name": "string", "score": "double", "part": "string"}


def _query(session: boto3.Session, sql: str, **kwargs: Any) -> pd.DataFrame:
    return wr.athena.read_sql_query(
        sql, database="analytics", s3_output="s3://results/wr/", boto3_session=session, **kwargs
    )


def test_read_sql_query_through_ctas_returns_the_dataframe(
    session: boto3.Session, dataset: pd.DataFrame
) -> None:
    got = _query(
        session,
        "SELECT part, sum(score) AS total, count(*) AS n FROM people GROUP BY part ORDER BY part",
    )
    expected = dataset.groupby("part").agg(total=("score", "sum"), n=("id", "size")).reset_index()
    assert list(got["part"]) == list(expected["part"])
    assert list(got["total"]) == pytest.approx(list(expected["total"]))
    assert list(got["n"]) == list(expected["n"])


def test_read_sql_query_through_the_result_csv(
    session: boto3.Session, dataset: pd.DataFrame
) -> None:
    got = _query(
        session,
        "SELECT id, name, score FROM people WHERE part = 'b' ORDER BY id",
        ctas_approach=False,
    )
    expected = dataset[dataset["part"] == "b"].sort_values("id")
    assert list(got["id"]) == list(expected["id"])
    assert list(got["name"]) == list(expected["name"])
    assert str(got["id"].dtype) == "Int64"
