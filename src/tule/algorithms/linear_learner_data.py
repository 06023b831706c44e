"""Reading Linear Learner's channels: one label per record, valid for the predictor type.

Features and labels come from the shared readers (`tule.algorithms.formats`: CSV with the label
first, RecordIO-protobuf dense or sparse). What Linear Learner adds: `feature_dim` must match
the data (SageMaker checks it: "Validating that feature_dim agrees with dimensions in training
data"); binary labels are 0 or 1 and multiclass labels 0 ... num_classes - 1 (SageMaker docs,
"Input/Output interface"); features and labels must be finite.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import scipy.sparse as sp

from tule.algorithms.base import ChannelData, DataError
from tule.algorithms.formats import Dataset, read_dataset
from tule.algorithms.linear_learner_hyperparameters import LinearLearnerHyperparameters
from tule.algorithms.linear_learner_scaling import Features


def read_channel(
    channels: Mapping[str, ChannelData], channel: str, params: LinearLearnerHyperparameters
) -> Dataset | None:
    """The channel's rows with 1-D float64 labels, or None when the job has no such channel."""
    data = channels.get(channel)
    if data is None:
        return None
    dim = params.feature_dim
    dataset = read_dataset(data, label_size=1, feature_dim=None if dim == "auto" else int(dim))
    if dim != "auto" and dataset.num_features != int(dim):
        raise DataError(
            f"Number of features in channel '{channel}' ({dataset.num_features}) does not "
            f"match feature_dim={dim}."
        )
    if dataset.labels is None:
        raise DataError(f"Channel '{channel}' has no labels; Linear Learner needs a label.")
    labels = np.asarray(dataset.labels, dtype=np.float64).reshape(dataset.num_rows, -1)
    if labels.shape[1] != 1:
        raise DataError(
            f"Channel '{channel}' has {labels.shape[1]} labels per record; "
            "Linear Learner takes one."
        )
    dataset.labels = labels[:, 0]
    check_labels(channel, dataset.labels, params)
    check_features(channel, dataset.features)
    return dataset


def check_labels(channel: str, labels: np.ndarray, params: LinearLearnerHyperparameters) -> None:
    if not np.all(np.isfinite(labels)):
        raise DataError(f"Channel '{channel}' has labels that are not finite numbers.")
    kind = params.predictor_type
    if kind == "binary_classifier" and not np.all((labels == 0) | (labels == 1)):
        bad = labels[(labels != 0) & (labels != 1)][0]
        raise DataError(
            f"Label {bad:g} in channel '{channel}' is invalid: binary_classifier labels "
            "must be 0 or 1."
        )
    if kind == "multiclass_classifier":
        classes = params.num_classes
        bad_mask = (labels != np.round(labels)) | (labels < 0) | (labels >= classes)
        if bad_mask.any():
            raise DataError(
                f"Label {labels[bad_mask][0]:g} in channel '{channel}' is invalid: "
                f"multiclass_classifier labels must be integers in [0, {classes - 1}] "
                f"(num_classes={classes})."
            )


def check_features(channel: str, features: Features) -> None:
    values = features.data if sp.issparse(features) else features
    # One float64 sum is finite exactly when every value is (barring overflow, which the
    # exact check then settles); it is much cheaper than an element-wise pass.
    if not np.isfinite(values.sum(dtype=np.float64)) and not np.all(np.isfinite(values)):
        raise DataError(f"Channel '{channel}' has feature values that are NaN or infinite.")
