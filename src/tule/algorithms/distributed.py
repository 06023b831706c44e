"""Multi-host training: the rendezvous of one job's workers and the collective they share.

SageMaker runs a training job with `InstanceCount > 1` as one container per host (`algo-1` ..
`algo-N`, listed in `resourceconfig.json`); each reads its own shard of a `ShardedByS3Key`
channel or all of a `FullyReplicated` one, and the built-in algorithms combine their work over
the network (XGBoost through its Rabit collective, the IM family through a parameter server).
tule runs the hosts as local processes and uses one existing engine for every algorithm:
XGBoost's collective. XGBoost trains inside it natively; K-Means, PCA and the others use its
`allreduce` and `broadcast` through the small `Collective` interface here.

The orchestrator side: `Tracker(n)` starts XGBoost's `RabitTracker` on 127.0.0.1 and
`worker_env()` gives the environment (`TULE_COLLECTIVE`, JSON communicator arguments) to put in
every worker process. The worker side: `load_resources` reads it back (`communicator_args`) into
`Resources.collective`, and an algorithm trains inside `joined(resources)`, which is a
single-process no-op on one host, so an algorithm has one code path for any host count.

Ranks follow the host list: the worker of `hosts[i]` is rank i (the tracker sorts workers by a
task id we derive from the index), so rank 0 is `algo-1`, the host SageMaker's containers treat
as the master.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any, TypeVar

import numpy as np

from tule.algorithms.base import AlgorithmError, Resources

COLLECTIVE_ENV = "TULE_COLLECTIVE"
LOOPBACK = "127.0.0.1"
# How long the tracker waits for every worker to connect (and, at the end, to say goodbye).
# Workers join at the start of `train`, so this only has to cover process start-up skew.
DEFAULT_BOOTSTRAP_TIMEOUT_S = 300
_T = TypeVar("_T")


class Tracker:
    """The rendezvous for one multi-host job (wraps xgboost's RabitTracker on 127.0.0.1).

    Use: `start()`, start every worker with `worker_env()` in its environment, wait for them,
    then `close()` (also when a worker died: close never waits more than `close_wait_s`)."""

    def __init__(
        self, n_workers: int, *, bootstrap_timeout_s: int = DEFAULT_BOOTSTRAP_TIMEOUT_S
    ) -> None:
        if n_workers < 1:
            raise ValueError(f"A tracker needs at least one worker, got {n_workers}.")
        self.n_workers = n_workers
        self.bootstrap_timeout_s = bootstrap_timeout_s
        self._tracker: Any = None
        self._args: dict[str, Any] | None = None

    def start(self) -> None:
        from xgboost.tracker import RabitTracker

        if self._tracker is not None:
            return
        # sortby="task": ranks come from the task ids `joined` derives from the host list,
        # not from the workers' addresses (all of them are 127.0.0.1 here).
        tracker = RabitTracker(
            n_workers=self.n_workers,
            host_ip=LOOPBACK,
            sortby="task",
            timeout=int(self.bootstrap_timeout_s),
        )
        tracker.start()
        self._tracker = tracker
        self._args = {"dmlc_communicator": "rabit", **tracker.worker_args()}

    def worker_env(self) -> dict[str, str]:
        """`{COLLECTIVE_ENV: <json>}`: what every worker process needs in its environment."""
        if self._args is None:
            raise RuntimeError("Tracker.worker_env() called before start().")
        return {COLLECTIVE_ENV: json.dumps(self._args, sort_keys=True)}

    def close(self, close_wait_s: int = 5) -> None:
        """Stop the tracker. After a clean run it has already finished; after a failed one
        (a worker died or never connected) it is stopped after `close_wait_s` seconds."""
        tracker, self._tracker = self._tracker, None
        if tracker is None:
            return
        from xgboost.core import XGBoostError

        # RabitTracker.free alone would block until the bootstrap timeout when a worker never
        # connected; wait_for with a short timeout stops it first.
        # A failed group's errors are ignored: the workers report why, the tracker adds nothing.
        with suppress(XGBoostError):
            tracker.wait_for(max(1, int(close_wait_s)))
        with suppress(XGBoostError):
            tracker.free()

    def __enter__(self) -> Tracker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def communicator_args() -> dict[str, Any] | None:
    """The communicator arguments of `COLLECTIVE_ENV`, or None when it is not set."""
    text = os.environ.get(COLLECTIVE_ENV, "").strip()
    if not text:
        return None
    try:
        args = json.loads(text)
    except json.JSONDecodeError as exc:
        raise AlgorithmError(
            f"{COLLECTIVE_ENV} is not valid JSON: {exc}.", client_error=False
        ) from None
    if not isinstance(args, dict):
        raise AlgorithmError(f"{COLLECTIVE_ENV} must be a JSON object.", client_error=False)
    return args


# ---------------------------------------------------------------------------------------------
# The collective an algorithm sees


class Collective:
    """Cross-host reductions for one training run. This base class is the one-host case:
    every operation returns its input, so single-host runs take the same code path."""

    rank: int = 0
    world_size: int = 1

    @property
    def is_leader(self) -> bool:
        """Rank 0 (`algo-1`): the host that writes the model."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def allreduce_sum(self, array: Any) -> np.ndarray:
        """Element-wise sum over the hosts (same shape and dtype on every host)."""
        return np.array(array, copy=True)

    def allreduce_max(self, array: Any) -> np.ndarray:
        """Element-wise maximum over the hosts."""
        return np.array(array, copy=True)

    def broadcast(self, value: _T, root: int = 0) -> _T:
        """`root`'s value on every host (any picklable value; others may pass None)."""
        return value

    def allgather(self, rows: Any) -> list[np.ndarray]:
        """Every host's rows, in rank order. Hosts may hold different row counts; the
        trailing shape and dtype must agree."""
        return [np.asarray(rows)]

    def on_leader(self, compute: Callable[[], _T]) -> _T:
        """`compute()` run on the master only, its result given to every host. An
        `AlgorithmError` it raises is raised on every host, so a failure the master finds
        (bad hyperparameters for the data, too few records) fails every host with the same
        reason instead of leaving the others waiting for a result."""
        if not self.distributed:
            return compute()
        outcome: tuple[bool, Any] | None = None
        if self.is_leader:
            try:
                outcome = (True, compute())
            except AlgorithmError as exc:
                outcome = (False, exc)
        outcome = self.broadcast(outcome, root=0)
        assert outcome is not None  # the master always sends one
        ok, value = outcome
        if not ok:
            raise value
        return value


class RabitCollective(Collective):
    """The collective of a multi-host run: XGBoost's Rabit communicator (already joined)."""

    def __init__(self, rank: int, world_size: int) -> None:
        self.rank = rank
        self.world_size = world_size

    def _reduce(self, array: Any, op: Any) -> np.ndarray:
        from xgboost import collective
        from xgboost.core import XGBoostError

        data = np.ascontiguousarray(array)
        if data.dtype == np.bool_:
            data = data.astype(np.uint8)
        try:
            return collective.allreduce(data, op).reshape(data.shape)
        except XGBoostError as exc:
            raise _lost_contact(exc) from None

    def allreduce_sum(self, array: Any) -> np.ndarray:
        from xgboost.collective import Op

        return self._reduce(array, Op.SUM)

    def allreduce_max(self, array: Any) -> np.ndarray:
        from xgboost.collective import Op

        return self._reduce(array, Op.MAX)

    def broadcast(self, value: _T, root: int = 0) -> _T:
        from xgboost import collective
        from xgboost.core import XGBoostError

        try:
            return collective.broadcast(value if self.rank == root else None, root)
        except XGBoostError as exc:
            raise _lost_contact(exc) from None

    def allgather(self, rows: Any) -> list[np.ndarray]:
        # A sum over a zero-padded buffer in which each host fills its own slice: exact for
        # floats (x + 0 == x) and needs nothing beyond allreduce.
        data = np.asarray(rows)
        counts = np.zeros(self.world_size, dtype=np.int64)
        counts[self.rank] = data.shape[0] if data.ndim else 1
        counts = self.allreduce_sum(counts)
        offsets = np.concatenate([[0], np.cumsum(counts)])
        buffer = np.zeros((int(offsets[-1]), *data.shape[1:]), dtype=data.dtype)
        buffer[offsets[self.rank] : offsets[self.rank + 1]] = data.reshape(-1, *data.shape[1:])
        total = self.allreduce_sum(buffer).astype(data.dtype, copy=False)
        return [total[offsets[r] : offsets[r + 1]] for r in range(self.world_size)]


def _xgboost_reason(exc: Exception) -> str:
    """The first cause in an XGBoost collective error ("- [file:line|time]: <cause>")."""
    for line in str(exc).splitlines()[1:]:
        cause = line.strip().removeprefix("- ")
        if cause:
            return cause.split("]: ", 1)[-1]
    return ""


def _lost_contact(exc: Exception) -> AlgorithmError:
    return AlgorithmError(
        "Distributed training lost contact with another host (it probably failed; its log "
        f"says why): {_xgboost_reason(exc)}",
        client_error=False,
    )


def rank_of(resources: Resources) -> int:
    """This host's rank: its position in the job's host list."""
    try:
        return list(resources.hosts).index(resources.current_host)
    except ValueError:
        raise AlgorithmError(
            f"Current host {resources.current_host} is not among the job's hosts "
            f"{list(resources.hosts)} (resourceconfig.json).",
            client_error=False,
        ) from None


@contextmanager
def joined(resources: Resources) -> Iterator[Collective]:
    """The collective of this training run, joined for the duration of the block.

    One host: a no-op `Collective`. Several: this worker joins XGBoost's communicator with
    the tracker of `resources.collective`, as rank `hosts.index(current_host)`; XGBoost
    training inside the block is distributed too. Several hosts without a tracker is an error,
    rather than N hosts each silently training alone."""
    world = len(resources.hosts)
    if world <= 1:
        yield Collective()
        return
    rank = rank_of(resources)
    if not resources.collective:
        raise AlgorithmError(
            f"Distributed training on {world} hosts needs the job's collective tracker: "
            f"{COLLECTIVE_ENV} is not set for this worker.",
            client_error=False,
        )
    from xgboost import collective
    from xgboost.core import XGBoostError

    # Zero-padded so that the tracker's sort by task id is the order of the host list.
    args = {**resources.collective, "dmlc_task_id": f"{rank:06d}"}
    try:
        context = collective.CommunicatorContext(**args)
        context.__enter__()
    except XGBoostError as exc:
        raise AlgorithmError(
            f"Could not join the collective of the job's {world} hosts: {_xgboost_reason(exc)}",
            client_error=False,
        ) from None
    try:
        if collective.get_world_size() != world or collective.get_rank() != rank:
            raise AlgorithmError(
                f"The collective gave this host rank {collective.get_rank()} of "
                f"{collective.get_world_size()}; the job expects rank {rank} of {world}.",
                client_error=False,
            )
        yield RabitCollective(rank, world)
    finally:
        # After a failure a peer may have left already; that failure is what gets reported.
        with suppress(XGBoostError):
            context.__exit__(None, None, None)


__all__ = [
    "COLLECTIVE_ENV",
    "Collective",
    "RabitCollective",
    "Tracker",
    "communicator_args",
    "joined",
    "rank_of",
]
