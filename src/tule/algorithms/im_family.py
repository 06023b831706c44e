"""What the IM-family images (K-Means, PCA, k-NN, ...) share: channels, content types, metrics.

Per specs/algorithms.md §0.2 to §0.4: a required `train` and optional `test` channel taking
RecordIO-protobuf (the default when a channel names no type) or CSV; CSV, JSON, JSON Lines and
RecordIO-protobuf inference requests; the progress and throughput metrics every image attaches.
"""

from __future__ import annotations

from tule.algorithms.base import ChannelSpec, MetricDefinition
from tule.algorithms.formats import CSV, JSON, JSONLINES, RECORDIO_PROTOBUF

TRAINING_TYPES = (RECORDIO_PROTOBUF, CSV)
TRAIN_AND_TEST = (
    ChannelSpec("train", True, TRAINING_TYPES, RECORDIO_PROTOBUF),
    ChannelSpec("test", False, TRAINING_TYPES, RECORDIO_PROTOBUF),
)
REQUEST_TYPES = (CSV, JSON, JSONLINES, RECORDIO_PROTOBUF)
PROGRESS = MetricDefinition("train:progress", r"#progress_metric: host=\S+, completed (\S+) %")
THROUGHPUT = MetricDefinition(
    "train:throughput", r"#throughput_metric: host=\S+, train throughput=(\S+) records/second"
)
