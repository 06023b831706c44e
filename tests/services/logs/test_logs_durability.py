"""Durability: groups, streams, events and tokens survive a restart; deletions are crash-safe."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from logs_helpers import GROUP, STREAM, messages, now_ms, put

from tule.clock import SystemClock
from tule.config import Settings
from tule.services.base import ServiceEnv
from tule.services.logs import Logs
from tule.testing import TuleServer


def test_everything_survives_a_restart(tmp_path: Path):
    t = now_ms() - 1000
    with TuleServer(tmp_path) as first:
        logs = first.client("logs")
        logs.create_log_group(logGroupName=GROUP)
        logs.put_retention_policy(logGroupName=GROUP, retentionInDays=14)
        logs.create_log_stream(logGroupName=GROUP, logStreamName=STREAM)
        put(logs, [(t + i, f"line {i}") for i in range(5)])
        before = logs.get_log_events(logGroupName=GROUP, logStreamName=STREAM, limit=2)
        streams_before = logs.describe_log_streams(logGroupName=GROUP)["logStreams"]

    with TuleServer(tmp_path) as second:
        logs = second.client("logs")
        (group,) = logs.describe_log_groups()["logGroups"]
        assert group["retentionInDays"] == 14
        assert group["storedBytes"] == 5 * len("line 0")
        assert logs.describe_log_streams(logGroupName=GROUP)["logStreams"] == streams_before
        # Tokens handed out before the restart still page on from where they were.
        back = logs.get_log_events(
            logGroupName=GROUP, logStreamName=STREAM, nextToken=before["nextBackwardToken"]
        )
        assert messages(back) == ["line 0", "line 1", "line 2"]
        # New events go after the old ones.
        put(logs, [(t + 10, "after restart")])
        everything = logs.get_log_events(logGroupName=GROUP, logStreamName=STREAM)
        assert messages(everything) == [f"line {i}" for i in range(5)] + ["after restart"]
        found = logs.filter_log_events(logGroupName=GROUP, filterPattern="restart")
        assert messages(found) == ["after restart"]


def _domain(data_dir: Path) -> Logs:
    return Logs(ServiceEnv(Settings(data_dir=data_dir), SystemClock(), data_dir / "logs"))


def _event_rows(data_dir: Path) -> int:
    with closing(sqlite3.connect(data_dir / "logs" / "events.db")) as conn:
        return conn.execute("SELECT count(*) FROM events").fetchone()[0]


def test_a_deletion_interrupted_after_the_catalog_commit_is_finished_at_start(tmp_path: Path):
    logs = _domain(tmp_path)
    stream = logs.ensure_stream("000000000000", "us-east-1", "g", "s")
    logs.append("000000000000", "us-east-1", "g", "s", [(now_ms(), "doomed")])
    # Crash between "catalog record gone" and "events purged".
    logs.events.doom_stream(stream.uid)
    logs.catalog.delete_stream(stream)
    logs.close()
    assert _event_rows(tmp_path) == 1

    logs = _domain(tmp_path)
    assert _event_rows(tmp_path) == 0
    logs.close()


def test_a_deletion_interrupted_before_the_catalog_commit_keeps_the_stream(tmp_path: Path):
    logs = _domain(tmp_path)
    stream = logs.ensure_stream("000000000000", "us-east-1", "g", "s")
    logs.append("000000000000", "us-east-1", "g", "s", [(now_ms(), "kept")])
    logs.events.doom_stream(stream.uid)  # crash before the catalog record was deleted
    logs.close()

    logs = _domain(tmp_path)
    page = logs.get_log_events("000000000000", "us-east-1", "g", "s")
    assert [e.message for e in page.events] == ["kept"]
    logs.close()
