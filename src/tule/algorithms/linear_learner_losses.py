"""Linear Learner's loss functions, evaluated for many parallel models at once.

Every loss takes the scores of all parallel models for a minibatch, `scores` of shape
`(rows, models, outputs)` (`outputs` is 1 except for multiclass, where it is `num_classes`),
and the labels of shape `(rows,)`, and returns the per-row, per-model loss `(rows, models)`
together with its gradient with respect to the scores (same shape as `scores`).

The gradients are written out by hand rather than taken with autograd: a linear model's only
non-linearity is the loss, so one analytic expression per loss replaces the autograd graph, and
that halves the per-minibatch overhead that dominates small-batch CPU training. A unit test
checks every gradient against `torch.autograd`.

The names and the `auto` resolution follow the SageMaker documentation: `logistic` and
`hinge_loss` for binary classifiers, `softmax_loss` for multiclass, and the regression losses
(squared, absolute, eps-insensitive squared/absolute, quantile, huber) for regressors.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

BINARY_LOSSES = ("logistic", "hinge_loss")
MULTICLASS_LOSSES = ("softmax_loss",)
REGRESSION_LOSSES = (
    "squared_loss",
    "absolute_loss",
    "eps_insensitive_squared_loss",
    "eps_insensitive_absolute_loss",
    "quantile_loss",
    "huber_loss",
)
ALL_LOSSES = ("auto", *BINARY_LOSSES, *MULTICLASS_LOSSES, *REGRESSION_LOSSES)

# What `loss=auto` resolves to per predictor type (SageMaker docs: "logistic loss for binary
# classification and squared loss for regression"; softmax for multiclass).
AUTO_LOSS = {
    "binary_classifier": "logistic",
    "multiclass_classifier": "softmax_loss",
    "regressor": "squared_loss",
}
ALLOWED_LOSSES = {
    "binary_classifier": BINARY_LOSSES,
    "multiclass_classifier": MULTICLASS_LOSSES,
    "regressor": REGRESSION_LOSSES,
}

# The metric name the objective is logged under (`... train <name> <loss>=v`). SageMaker's logs
# show `binary_classification_cross_entropy_objective` and `multiclass_cross_entropy_objective`;
# the regression ones are named after the loss, which the `\S+_objective` regexes accept.
OBJECTIVE_NAMES = {
    "logistic": "binary_classification_cross_entropy_objective",
    "hinge_loss": "binary_classification_hinge_loss_objective",
    "softmax_loss": "multiclass_cross_entropy_objective",
    "squared_loss": "mse_objective",
    "absolute_loss": "absolute_loss_objective",
    "eps_insensitive_squared_loss": "eps_insensitive_squared_loss_objective",
    "eps_insensitive_absolute_loss": "eps_insensitive_absolute_loss_objective",
    "quantile_loss": "quantile_loss_objective",
    "huber_loss": "huber_loss_objective",
}


@dataclass(frozen=True)
class LossParams:
    """The constants some losses take (SageMaker hyperparameters of the same names)."""

    margin: float = 1.0
    quantile: float = 0.5
    loss_insensitivity: float = 0.01
    huber_delta: float = 1.0


def loss_and_grad(
    name: str, scores: torch.Tensor, labels: torch.Tensor, params: LossParams
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-row, per-model loss `(rows, models)` and its gradient wrt `scores`."""
    if name == "softmax_loss":
        return _softmax(scores, labels)
    s = scores[..., 0]
    y = labels.unsqueeze(1)
    if name == "logistic":
        # softplus(s) - y*s is log(1 + e^s) - y*s, the cross-entropy of sigmoid(s) against y.
        loss = torch.nn.functional.softplus(s) - y * s
        grad = torch.sigmoid(s) - y
    elif name == "hinge_loss":
        sign = 2.0 * y - 1.0  # labels 0/1 as -1/+1
        slack = params.margin - sign * s
        active = slack > 0
        loss = torch.clamp_min(slack, 0.0)
        grad = torch.where(active, -sign, torch.zeros_like(s))
    else:
        loss, grad = _regression(name, s - y, params)
    return loss, grad.unsqueeze(-1)


def _regression(
    name: str, residual: torch.Tensor, params: LossParams
) -> tuple[torch.Tensor, torch.Tensor]:
    r = residual  # prediction minus label
    if name == "squared_loss":
        return r * r, 2.0 * r
    if name == "absolute_loss":
        return r.abs(), torch.sign(r)
    if name == "eps_insensitive_squared_loss":
        excess = torch.clamp_min(r.abs() - params.loss_insensitivity, 0.0)
        return excess * excess, 2.0 * excess * torch.sign(r)
    if name == "eps_insensitive_absolute_loss":
        excess = r.abs() - params.loss_insensitivity
        return torch.clamp_min(excess, 0.0), torch.where(excess > 0, torch.sign(r), 0.0)
    if name == "quantile_loss":
        # Pinball loss on label - prediction: under-prediction costs q, over-prediction 1 - q,
        # so the minimiser is the q-th conditional quantile.
        q = params.quantile
        loss = torch.where(r < 0, -q * r, (1.0 - q) * r)
        return loss, torch.where(r < 0, torch.full_like(r, -q), torch.full_like(r, 1.0 - q))
    if name == "huber_loss":
        delta = params.huber_delta
        small = r.abs() <= delta
        loss = torch.where(small, 0.5 * r * r, delta * (r.abs() - 0.5 * delta))
        return loss, torch.clamp(r, -delta, delta)
    raise ValueError(f"unknown loss {name!r}")


def _softmax(scores: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    log_p = torch.log_softmax(scores, dim=-1)
    index = labels.long().view(-1, 1, 1).expand(-1, scores.shape[1], 1)
    loss = -log_p.gather(-1, index).squeeze(-1)
    grad = log_p.exp()
    grad.scatter_add_(-1, index, torch.full_like(index, -1.0, dtype=grad.dtype))
    return loss, grad
