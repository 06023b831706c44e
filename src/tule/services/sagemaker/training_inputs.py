"""A training job's inputs on its instances: channels and checkpoints out of S3.

File and FastFile channels are downloaded into `input/data/<channel>/` of each instance (its
share under ShardedByS3Key); Pipe channels get a FIFO feeder per instance that streams each
epoch from S3. Checkpoints are downloaded into every instance's checkpoint folder and then
synced back to S3 while the job runs (see `artifacts.Checkpoints`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

from tule.runtime.pipes import PipeFeeder
from tule.runtime.workspace import Workspace
from tule.services.sagemaker import channel_streams
from tule.services.sagemaker import channels as channel_data
from tule.services.sagemaker.artifacts import Checkpoints
from tule.services.sagemaker.training_plan import JobFailure, Plan
from tule.services.sagemaker.training_status import Record

log = logging.getLogger("tule.sagemaker.training")

DEFAULT_CHECKPOINT_PATH = "/opt/ml/checkpoints/"


class Inputs:
    """The feeders and checkpoint sync of one job; `close()` ends them."""

    def __init__(self, s3: Any, region: str, role_arn: str | None) -> None:
        self.s3 = s3
        self.region = region
        self.role_arn = role_arn
        self.feeders: list[PipeFeeder] = []
        self.checkpoints: Checkpoints | None = None

    def prepare_channels(
        self,
        plan: Plan,
        workspaces: list[Workspace],
        downloading: Callable[[], None],
        stop: threading.Event,
    ) -> None:
        """Resolve every channel, then download or start feeding each instance's share;
        `downloading` is called first when any channel is downloaded."""
        if not plan.channels:
            return
        try:
            resolved = {
                c["ChannelName"]: channel_data.resolve(
                    self.s3, c, region=self.region, role_arn=self.role_arn
                )
                for c in plan.channels
            }
        except channel_data.ChannelError as exc:
            raise JobFailure(str(exc)) from None
        if any(plan.mode(c) != "Pipe" for c in plan.channels):
            downloading()
        count = len(workspaces)
        for i, ws in enumerate(workspaces):
            for channel in plan.channels:
                name = channel["ChannelName"]
                if plan.mode(channel) == "Pipe":
                    self._feed(channel, resolved[name], (i, count), ws)
                    continue
                source = channel["DataSource"].get("S3DataSource") or {}
                distribution = source.get("S3DataDistributionType")
                objects = channel_data.shard(resolved[name], distribution, i, count)
                target = ws.channel_dir(name)
                target.mkdir(parents=True, exist_ok=True)
                try:
                    channel_data.download(self.s3, objects, target)
                except channel_data.ChannelError as exc:
                    raise JobFailure(str(exc)) from None
                if stop.is_set():
                    return

    def _feed(
        self,
        channel: dict[str, Any],
        objects: list[channel_data.SourceObject],
        host: tuple[int, int],
        ws: Workspace,
    ) -> None:
        """A FIFO feeder for one Pipe-mode channel of one instance. SageMaker shuffles the
        whole channel each epoch and then shards it, so an instance's share changes by epoch."""
        s3 = self.s3
        source = channel["DataSource"].get("S3DataSource") or {}
        seed = (channel.get("ShuffleConfig") or {}).get("Seed")
        augmented = source.get("S3DataType") == "AugmentedManifestFile"
        names = source.get("AttributeNames") or []
        distribution = source.get("S3DataDistributionType")

        def epoch_bytes(epoch: int) -> Iterator[bytes]:
            if augmented:
                for manifest in objects:
                    yield from channel_streams.augmented_records(
                        s3, manifest, names, seed=seed, epoch=epoch
                    )
                return
            order = channel_data.shuffled(objects, seed, epoch)
            yield from channel_streams.stream(
                s3,
                channel_data.shard(order, distribution, *host),
                compression=channel.get("CompressionType"),
                record_wrapper=channel.get("RecordWrapperType"),
            )

        ws.data_dir.mkdir(parents=True, exist_ok=True)
        feeder = PipeFeeder(ws.data_dir, channel["ChannelName"], epoch_bytes)
        feeder.start()
        self.feeders.append(feeder)

    def prepare_checkpoints(self, record: Record, workspaces: list[Workspace]) -> None:
        """Download CheckpointConfig.S3Uri into the first instance's checkpoint folder and keep
        syncing it back; every other instance gets an empty folder at the same path."""
        config = record.get("CheckpointConfig")
        if not config:
            return
        path = config.get("LocalPath") or DEFAULT_CHECKPOINT_PATH
        for ws in workspaces[1:]:
            ws.map_container_path(path).mkdir(parents=True, exist_ok=True)
        try:
            checkpoints = Checkpoints(
                self.s3, config["S3Uri"], workspaces[0].map_container_path(path)
            )
            checkpoints.download()
        except channel_data.ChannelError as exc:
            raise JobFailure(f"ClientError: CheckpointConfig.S3Uri: {exc}") from None
        except Exception as exc:
            code = getattr(exc, "code", type(exc).__name__)
            raise JobFailure(f"ClientError: could not read checkpoints from S3: {code}") from None
        checkpoints.start()
        self.checkpoints = checkpoints

    def feeding_error(self) -> str | None:
        """The FailureReason for a Pipe-mode channel that could not be streamed, if any."""
        for feeder in self.feeders:
            if feeder.error is not None:
                if isinstance(feeder.error, channel_data.ChannelError):
                    return str(feeder.error)
                return f"ClientError: streaming a Pipe-mode channel failed: {feeder.error}"
        return None

    def close_feeders(self) -> None:
        for feeder in self.feeders:
            feeder.close()

    def close(self) -> None:
        """Stop feeding and upload the last checkpoints."""
        self.close_feeders()
        if self.checkpoints is not None:
            checkpoints, self.checkpoints = self.checkpoints, None
            try:
                checkpoints.close()
            except Exception:
                log.exception("the final checkpoint upload failed")
