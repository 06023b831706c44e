"""Query executions: their durable records, their states, and the workers that run them.

StartQueryExecution stores the execution QUEUED (with its idempotency token and its place in
the workgroup's listing) in one commit and hands it to a small thread pool; it never runs SQL in
the request. A worker moves it to RUNNING (kept in memory: a restart ends every unfinished query
anyway), runs it, and stores the final state — SUCCEEDED with its statistics and result
location, FAILED with Athena's reason, or CANCELLED after StopQueryExecution (which interrupts
the engine). Executions left unfinished by a restart are marked FAILED at start-up.

The worker may start while the first commit is being made durable (a SELECT's parse, bind and
run overlap its fsync), but the query changes nothing, and the execution does not end, before
that commit has succeeded; if it fails, the request fails and the work is dropped.

Reading an unfinished execution may hold for a moment (`hold`): the answer comes as soon as the
execution ends, or after `HOLD_S` (then QUEUED or RUNNING). It is still the state at the time of
the answer, but a client polling in a tight loop (as Athena clients do, start -> poll -> fetch)
learns of the end at once instead of up to one poll interval late, and its polls stop taking
CPU and the interpreter from the query they wait on. The move from QUEUED to RUNNING does not
end a hold: answering it would only cost the client one more round trip.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from tule.clock import Clock
from tule.engines.duckdb_engine import DuckDbEngine, EngineSession
from tule.errors import AwsError
from tule.metadata.base import Delete, MetadataStore, Put
from tule.services.athena.errors import (
    INTERNAL_ERROR,
    QueryFailed,
    execution_not_found,
    invalid_request,
)
from tule.services.athena.records import Record, decode_token, encode_token, scope
from tule.services.athena.reuse import reusable
from tule.services.athena.runner import Outcome, QueryJob, QueryRunner

log = logging.getLogger("tule.athena")

TERMINAL = frozenset({"SUCCEEDED", "FAILED", "CANCELLED"})
_MAX_ORDER = 10**16
HOLD_S = 0.05


@dataclass
class _Live:
    """An execution between QUEUED and its end: in-memory state the record does not carry."""

    state: str
    cancelled: bool = False
    session: EngineSession | None = None
    # Set once StartQueryExecution's commit has ended; `unrecorded` when it failed.
    recorded: threading.Event = field(default_factory=threading.Event)
    unrecorded: bool = False

    def settled(self) -> None:
        """`QueryJob.before_writes`: wait for the record; a query never recorded stops."""
        self.recorded.wait()
        if self.unrecorded:
            raise QueryFailed("", "Query was not recorded", category=1, error_type=INTERNAL_ERROR)


class Executions:
    """Records and runs query executions (see the module docstring)."""

    def __init__(
        self,
        store: MetadataStore,
        clock: Clock,
        engine: DuckDbEngine,
        runner: QueryRunner,
        workers: int,
    ) -> None:
        self.store = store
        self.clock = clock
        self.engine = engine
        self.runner = runner
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="athena-query")
        self._live: dict[str, _Live] = {}
        self._tokens: dict[str, _Live] = {}  # idempotency tokens whose start is committing
        self._lock = threading.RLock()
        # Notified whenever a live execution changes state (see `hold`).
        self._changed = threading.Condition(threading.Lock())
        self._seq = 0
        self._fail_unfinished()

    # -- records ------------------------------------------------------------------------------

    @staticmethod
    def _key(account: str, region: str, query_id: str) -> str:
        return scope("q", account, region) + query_id

    def _fail_unfinished(self) -> None:
        for key, _ in list(self._scan("a/")):
            account, region, query_id = key.split("/")[1:4]
            record = self.store.get(self._key(account, region, query_id))
            ops: list[Put | Delete] = [Delete(key)]
            if record is not None and record["Status"]["State"] not in TERMINAL:
                now = self.clock.time()
                record["Status"].update(
                    State="FAILED",
                    StateChangeReason="Query was interrupted: the server restarted",
                    CompletionDateTime=now,
                    AthenaError={
                        "ErrorCategory": 1,
                        "ErrorType": INTERNAL_ERROR,
                        "Retryable": True,
                        "ErrorMessage": "Query was interrupted: the server restarted",
                    },
                )
                ops.append(Put(self._key(account, region, query_id), record))
            self.store.batch(ops)

    def _scan(self, prefix: str) -> Any:
        after = None
        while True:
            result = self.store.list(prefix, start_after=after, limit=1000)
            yield from result.items
            if result.next_after is None:
                return
            after = result.next_after

    def start(
        self, account: str, region: str, record: Record, token: str | None, job: QueryJob
    ) -> str:
        """Store a new execution QUEUED and submit it; an already-seen token answers the
        execution it started."""
        token_key = scope("t", account, region) + token if token else None
        while True:
            with self._lock:
                pending = self._tokens.get(token_key) if token_key is not None else None
                if pending is None:
                    started = self._started_by(token_key, record)
                    if started is not None:
                        return started
                    live, ops = self._queued(account, region, record, token_key, job.query_id)
                    break
            # The same token's first start is still committing: answer as it ends.
            pending.recorded.wait()
        job.before_writes = live.settled
        submitted = time.perf_counter()
        self._pool.submit(self._work, account, region, job, submitted)
        try:
            self.store.batch(ops)
        except BaseException:
            live.unrecorded = live.cancelled = True
            raise
        finally:
            with self._lock:
                if token_key is not None:
                    self._tokens.pop(token_key, None)
            live.recorded.set()
        return job.query_id

    def _started_by(self, token_key: str | None, record: Record) -> str | None:
        """The execution an idempotency token already started, if any."""
        seen = self.store.get(token_key) if token_key is not None else None
        if seen is None:
            return None
        if seen.get("query") != record["Query"]:
            raise invalid_request("Idempotent parameters do not match", "INVALID_INPUT")
        return str(seen["id"])

    def _queued(
        self, account: str, region: str, record: Record, token_key: str | None, query_id: str
    ) -> tuple[_Live, list[Put | Delete]]:
        """A new execution's live state and the writes that record it (under the lock)."""
        self._seq += 1
        order = _MAX_ORDER - int(self.clock.time() * 1000) * 1000 - self._seq % 1000
        ops: list[Put | Delete] = [
            Put(self._key(account, region, query_id), record),
            Put(f"a/{account}/{region}/{query_id}", {}),
            Put(
                scope("l", account, region) + f"{record['WorkGroup']}/{order:017d}/{query_id}",
                {"id": query_id},
            ),
        ]
        live = _Live("QUEUED")
        if token_key is not None:
            ops.append(Put(token_key, {"id": query_id, "query": record["Query"]}))
            self._tokens[token_key] = live
        self._live[query_id] = live
        return live, ops

    def get(self, account: str, region: str, query_id: str) -> Record:
        record = self.store.get(self._key(account, region, query_id))
        if record is None:
            raise execution_not_found(query_id)
        live = self._live.get(query_id)
        if live is not None and record["Status"]["State"] not in TERMINAL:
            record["Status"]["State"] = live.state
        return record

    def hold(self, query_id: str, timeout: float | None = None) -> None:
        """Wait (at most `timeout` seconds, `HOLD_S` by default) until the execution ends."""

        def ended() -> bool:
            return query_id not in self._live

        with self._changed:
            self._changed.wait_for(ended, HOLD_S if timeout is None else timeout)

    def _notify(self) -> None:
        with self._changed:
            self._changed.notify_all()

    def find(self, account: str, region: str, query_id: str) -> Record | None:
        try:
            return self.get(account, region, query_id)
        except AwsError:  # not found
            return None

    def list_ids(
        self, account: str, region: str, workgroup: str, limit: int, token: str | None
    ) -> tuple[list[str], str | None]:
        prefix = scope("l", account, region) + workgroup + "/"
        after = decode_token(token, prefix) if token else None
        result = self.store.list(prefix, start_after=after, limit=limit + 1)
        items = result.items[:limit]
        more = len(result.items) > limit
        return [r["id"] for _, r in items], (encode_token(items[-1][0]) if more and items else None)

    def stop(self, account: str, region: str, query_id: str) -> None:
        self.get(account, region, query_id)
        with self._lock:
            live = self._live.get(query_id)
            if live is None:
                return
            live.cancelled = True
            session = live.session
            if live.state == "QUEUED":
                # Not started: it ends now; the worker that picks it up finds nothing to do.
                now = time.perf_counter()
                self._finish(account, region, query_id, "CANCELLED", now, now, None, None)
                return
        if session is not None:
            session.interrupt()

    # -- running ------------------------------------------------------------------------------

    def _work(self, account: str, region: str, job: QueryJob, submitted: float) -> None:
        with self._lock:
            live = self._live.get(job.query_id)
            if live is None:
                return
            cancelled = live.cancelled
            if not cancelled:
                live.state = "RUNNING"
                session = self.engine.session()
                live.session = session
        if cancelled:
            if self._recorded(job.query_id, live):
                self._finish(
                    account, region, job.query_id, "CANCELLED", submitted, submitted, None, None
                )
            return
        self._notify()
        started = time.perf_counter()
        outcome, failure = None, None
        try:
            outcome = self._reused(account, region, job) or self.runner.run(job, session)
        except QueryFailed as err:
            failure = err
        except Exception as err:  # a bug or an unexpected engine state: the query fails, not tule
            log.exception("query %s failed unexpectedly", job.query_id)
            failure = QueryFailed(
                "GENERIC_INTERNAL_ERROR", str(err), category=1, error_type=INTERNAL_ERROR
            )
        finally:
            with self._lock:
                live.session = None
            session.close()
        if not self._recorded(job.query_id, live):
            return
        state = "SUCCEEDED" if failure is None else "FAILED"
        if live.cancelled:
            state, failure = "CANCELLED", None
        self._finish(
            account,
            region,
            job.query_id,
            state,
            submitted,
            started,
            outcome,
            failure,
            reuse_at=job.reuse_key,
        )

    def _reused(self, account: str, region: str, job: QueryJob) -> Outcome | None:
        """An earlier execution's result for a query that asks for reuse (see `reuse`)."""
        if job.reuse_key is None or job.reuse_max_age is None:
            return None
        found = reusable(
            self.store,
            job.reuse_key,
            lambda query_id: self._key(account, region, query_id),
            job.reuse_max_age,
            self.clock.time(),
            self.runner.results.exists,
        )
        if found is None:
            return None
        result = found.get("_result") or {}
        return Outcome(
            found["StatementType"],
            found.get("SubstatementType"),
            found["ResultConfiguration"]["OutputLocation"],
            result.get("columns") or [],
            has_header=bool(result.get("header")),
            reused=True,
        )

    def _recorded(self, query_id: str, live: _Live) -> bool:
        """Whether the execution's start was committed (waiting for it); if it was not, the
        execution is forgotten."""
        live.recorded.wait()
        if live.unrecorded:
            with self._lock:
                self._live.pop(query_id, None)
            self._notify()
        return not live.unrecorded

    def _finish(
        self,
        account: str,
        region: str,
        query_id: str,
        state: str,
        submitted: float,
        started: float,
        outcome: Any,
        failure: QueryFailed | None,
        reuse_at: str | None = None,
    ) -> None:
        ended = time.perf_counter()
        key = self._key(account, region, query_id)
        record = self.store.get(key)
        if record is None:
            return
        status = record["Status"]
        status["State"] = state
        status["CompletionDateTime"] = self.clock.time()
        if failure is not None:
            status["StateChangeReason"] = failure.reason
            status["AthenaError"] = {
                "ErrorCategory": failure.category,
                "ErrorType": failure.error_type,
                "Retryable": failure.retryable,
                "ErrorMessage": failure.reason,
            }
        elif state == "CANCELLED":
            status["StateChangeReason"] = "Query cancelled by user"
        engine_ms = int((ended - started) * 1000)
        queue_ms = int((started - submitted) * 1000)
        record["Statistics"] = {
            "EngineExecutionTimeInMillis": engine_ms,
            "DataScannedInBytes": outcome.scanned_bytes if outcome is not None else 0,
            "TotalExecutionTimeInMillis": int((ended - submitted) * 1000),
            "QueryQueueTimeInMillis": queue_ms,
            "ServicePreProcessingTimeInMillis": 0,
            "QueryPlanningTimeInMillis": 0,
            "ServiceProcessingTimeInMillis": 0,
            "ResultReuseInformation": {
                "ReusedPreviousResult": outcome is not None and outcome.reused
            },
        }
        if outcome is not None:
            record["StatementType"] = outcome.statement_type
            if outcome.substatement_type:
                record["SubstatementType"] = outcome.substatement_type
            record["ResultConfiguration"]["OutputLocation"] = outcome.result_file
            if outcome.manifest:
                record["Statistics"]["DataManifestLocation"] = outcome.manifest
            record["_result"] = {
                "columns": outcome.columns,
                "header": outcome.has_header,
                "update_count": outcome.update_count,
            }
        ops: list[Put | Delete] = [Put(key, record), Delete(f"a/{account}/{region}/{query_id}")]
        if (
            reuse_at is not None
            and state == "SUCCEEDED"
            and outcome is not None
            and outcome.substatement_type == "SELECT"
            and not outcome.reused
        ):
            ops.append(Put(reuse_at, {"id": query_id}))
        self.store.batch(ops)
        with self._lock:
            self._live.pop(query_id, None)
        self._notify()

    def close(self) -> None:
        with self._lock:
            for live in self._live.values():
                live.cancelled = True
                if live.session is not None:
                    live.session.interrupt()
        self._pool.shutdown(wait=True, cancel_futures=True)


def new_query_id() -> str:
    return str(uuid.uuid4())
