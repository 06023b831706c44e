"""Crawler states through boto3: RUNNING while a crawl is mid-way, StopCrawler -> CANCELLED,
what a running crawler refuses, elapsed time, and what a server restart leaves.

A crawl is held mid-way by the domain's `on_file` hook (called before each file is read), so
these tests act while a crawl is certainly running, without sleeping for it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from crawler_helpers import crawl, make_crawler, wait_ready

from tule.clock import ManualClock
from tule.testing import TuleServer

BUCKET = "lifecycle-data"


@pytest.fixture(scope="module")
def clock() -> ManualClock:
    return ManualClock(start=1_700_000_000.0)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, clock: ManualClock) -> Iterator[TuleServer]:
    with TuleServer(tmp_path_factory.mktemp("crawler-life"), clock=clock, fsync=False) as shared:
        s3 = shared.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        for i in range(3):
            s3.put_object(Bucket=BUCKET, Key=f"t/part={i}/a.csv", Body=b"id,v\n1,2.5\n")
        shared.client("glue").create_database(DatabaseInput={"Name": "life"})
        yield shared


@pytest.fixture
def glue(server: TuleServer) -> Any:
    client = server.client("glue")
    for name in client.list_crawlers()["CrawlerNames"]:
        client.delete_crawler(Name=name)
    return client


class Gate:
    """Holds every crawl at its first file until released."""

    def __init__(self) -> None:
        self.reached = threading.Event()
        self.release = threading.Event()

    def __call__(self, key: str) -> None:
        self.reached.set()
        assert self.release.wait(10), "the test never released the crawl"


@pytest.fixture
def gate(server: TuleServer) -> Iterator[Gate]:
    crawlers = server.app.domains["glue"].crawlers
    held = Gate()
    crawlers.on_file = held
    yield held
    held.release.set()
    crawlers.on_file = None


def code(excinfo: pytest.ExceptionInfo[ClientError]) -> str:
    return str(excinfo.value.response["Error"]["Code"])


def test_stop_crawler_cancels_a_running_crawl(glue: Any, gate: Gate, clock: ManualClock) -> None:
    make_crawler(glue, "stoppable", "life", f"s3://{BUCKET}/t/")
    glue.start_crawler(Name="stoppable")
    assert gate.reached.wait(10)
    running = glue.get_crawler(Name="stoppable")["Crawler"]
    assert running["State"] == "RUNNING"
    clock.advance(2.5)
    assert glue.get_crawler(Name="stoppable")["Crawler"]["CrawlElapsedTime"] == 2500

    glue.stop_crawler(Name="stoppable")
    assert glue.get_crawler(Name="stoppable")["Crawler"]["State"] == "STOPPING"
    with pytest.raises(ClientError) as excinfo:
        glue.stop_crawler(Name="stoppable")
    assert code(excinfo) == "CrawlerStoppingException"
    gate.release.set()

    crawler = wait_ready(glue, "stoppable", None)
    assert crawler["LastCrawl"]["Status"] == "CANCELLED"
    assert "CrawlElapsedTime" not in crawler
    assert glue.get_tables(DatabaseName="life")["TableList"] == []


def test_running_crawler_refuses_start_update_and_delete(glue: Any, gate: Gate) -> None:
    make_crawler(glue, "busy", "life", f"s3://{BUCKET}/t/")
    glue.start_crawler(Name="busy")
    assert gate.reached.wait(10)
    with pytest.raises(ClientError) as excinfo:
        glue.start_crawler(Name="busy")
    assert code(excinfo) == "CrawlerRunningException"
    with pytest.raises(ClientError) as excinfo:
        glue.update_crawler(Name="busy", Description="x")
    assert code(excinfo) == "CrawlerRunningException"
    with pytest.raises(ClientError) as excinfo:
        glue.delete_crawler(Name="busy")
    assert code(excinfo) == "CrawlerRunningException"
    (metrics,) = glue.get_crawler_metrics(CrawlerNameList=["busy"])["CrawlerMetricsList"]
    assert metrics["StillEstimating"] is True
    gate.release.set()
    assert wait_ready(glue, "busy", None)["LastCrawl"]["Status"] == "SUCCEEDED"


def test_a_crawler_can_run_again_after_it_finished(glue: Any) -> None:
    make_crawler(glue, "twice", "life", f"s3://{BUCKET}/t/")
    first = crawl(glue, "twice")
    second = crawl(glue, "twice")
    assert first["LastCrawl"]["MessagePrefix"] != second["LastCrawl"]["MessagePrefix"]
    assert second["LastCrawl"]["Status"] == "SUCCEEDED"
    (metrics,) = glue.get_crawler_metrics(CrawlerNameList=["twice"])["CrawlerMetricsList"]
    # The second crawl found the table as it was: nothing created, nothing changed.
    assert (metrics["TablesCreated"], metrics["TablesUpdated"]) == (0, 0)


def test_crawlers_and_classifiers_survive_a_restart(tmp_path: Path) -> None:
    with TuleServer(tmp_path, fsync=False) as first:
        glue = first.client("glue")
        make_crawler(glue, "durable", "db", "s3://somewhere/x/", TablePrefix="p_")
        glue.create_classifier(JsonClassifier={"Name": "rows", "JsonPath": "$[*]"})
    with TuleServer(tmp_path, fsync=False) as second:
        glue = second.client("glue")
        crawler = glue.get_crawler(Name="durable")["Crawler"]
        assert crawler["TablePrefix"] == "p_"
        assert crawler["State"] == "READY"
        assert (
            glue.get_classifier(Name="rows")["Classifier"]["JsonClassifier"]["JsonPath"] == "$[*]"
        )


def test_a_crawl_cut_short_by_a_server_stop_comes_back_failed(tmp_path: Path) -> None:
    with TuleServer(tmp_path, fsync=False) as first:
        s3 = first.client("s3")
        s3.create_bucket(Bucket="cut-short")
        s3.put_object(Bucket="cut-short", Key="t/a.csv", Body=b"id,v\n1,2\n")
        glue = first.client("glue")
        glue.create_database(DatabaseInput={"Name": "db"})
        make_crawler(glue, "cut", "db", "s3://cut-short/t/")
        crawlers = first.app.domains["glue"].crawlers
        held = Gate()
        crawlers.on_file = held
        glue.start_crawler(Name="cut")
        assert held.reached.wait(10)
        # Stopping the server cancels the crawl; release it once the stop is under way.
        threading.Timer(0.2, held.release.set).start()
    with TuleServer(tmp_path, fsync=False) as second:
        crawler = second.client("glue").get_crawler(Name="cut")["Crawler"]
        assert crawler["State"] == "READY"
        assert crawler["LastCrawl"]["Status"] == "FAILED"
        assert "interrupted" in crawler["LastCrawl"]["ErrorMessage"]


def test_a_crawler_left_running_in_the_records_is_recovered_as_failed(tmp_path: Path) -> None:
    with TuleServer(tmp_path, fsync=False) as first:
        glue = first.client("glue")
        make_crawler(glue, "orphan", "db", "s3://somewhere/x/")
        store = first.app.domains["glue"].crawlers.store
        record = store.get("000000000000", "us-east-1", "orphan")
        # As if the process died mid-crawl: the record still says RUNNING.
        record |= {"State": "RUNNING", "run": {"StartTime": 1.0, "MessagePrefix": "m"}}
        store.put("000000000000", "us-east-1", record)
    with TuleServer(tmp_path, fsync=False) as second:
        crawler = second.client("glue").get_crawler(Name="orphan")["Crawler"]
        assert crawler["State"] == "READY"
        assert crawler["LastCrawl"]["Status"] == "FAILED"
        assert crawler["LastCrawl"]["MessagePrefix"] == "m"
