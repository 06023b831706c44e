"""Linear Learner's training core: many linear models optimised at once, as one torch model.

SageMaker's Linear Learner "simultaneously optimize[s] multiple models, each with slightly
different objectives ... you vary L1 or L2 regularization and try out different optimizer
settings" [SageMaker docs, "How linear learner works"]; its logs show 32 models by default
(`"model": 0` ... `"model": 31`) and report the winner's settings as
`Best model found for hyperparameters: {"optimizer": ..., "learning_rate": ..., "l1": ...,
"wd": ..., "lr_scheduler_step": ..., "lr_scheduler_factor": ..., "lr_scheduler_minimum_lr": ...}`.

Here the parallel models share one parameter matrix `theta` of shape
`(features + 1, models * outputs)` — the last row holds the biases, and training rows carry a
constant-1 column — so a minibatch costs one matrix product forward and one backward for all
of them; every per-model setting (learning rate, L1, L2, schedule, positive weight) is a vector
broadcast over the models' columns. Gradients are analytic (see `linear_learner_losses`) and
the optimisers (SGD with momentum, Adam, RMSProp) are written out so that each model keeps its
own learning rate. Inputs arrive already normalised (`linear_learner_scaling.Scaler`); the
weights stay in that space and `Scaler.unscale` maps the selected one back to raw units.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch

from tule.algorithms.distributed import Collective
from tule.algorithms.linear_learner_losses import LossParams, loss_and_grad
from tule.algorithms.linear_learner_scaling import Features, Scaler


@dataclass(frozen=True)
class ModelSettings:
    """The settings one of the parallel models trains with."""

    learning_rate: float
    wd: float
    l1: float
    lr_scheduler_step: int
    lr_scheduler_factor: float
    lr_scheduler_minimum_lr: float
    positive_example_weight_mult: float = 1.0

    def describe(self, optimizer: str) -> dict[str, float | int | str]:
        """The dict SageMaker prints after `Best model found for hyperparameters:`."""
        return {
            "optimizer": optimizer,
            "learning_rate": self.learning_rate,
            "l1": self.l1,
            "wd": self.wd,
            "lr_scheduler_step": self.lr_scheduler_step,
            "lr_scheduler_factor": self.lr_scheduler_factor,
            "lr_scheduler_minimum_lr": self.lr_scheduler_minimum_lr,
        }


@dataclass(frozen=True)
class TrainingPlan:
    """Everything the optimisation loop needs, with every `auto` already resolved."""

    loss: str
    loss_params: LossParams
    outputs: int  # 1, or num_classes for multiclass
    optimizer: str  # "sgd" | "adam" | "rmsprop"
    models: tuple[ModelSettings, ...]
    epochs: int
    mini_batch_size: int
    use_bias: bool = True
    use_lr_scheduler: bool = True
    beta_1: float = 0.9
    beta_2: float = 0.999
    momentum: float = 0.0
    bias_lr_mult: float = 1.0
    bias_wd_mult: float = 0.0
    init_method: str = "uniform"
    init_scale: float = 0.07
    init_sigma: float = 0.01
    init_bias: float = 0.0
    class_weights: np.ndarray | None = None  # multiclass: one weight per class
    seed: int = 0

    @property
    def num_models(self) -> int:
        return len(self.models)


@dataclass
class EpochReport:
    """What the loop tells its caller after each epoch."""

    epoch: int
    train_loss: np.ndarray  # (models,) mean training objective, normalised units
    records: int
    seconds: float


@dataclass
class ParallelModels:
    """The parameters of every parallel model, in normalised feature/label space.

    `theta` stacks the weights `(features, models * outputs)` and, when the models have a
    bias, one more row holding it: training rows then carry a trailing constant 1 feature, so
    the bias is learned by the same matrix product and optimiser step as the weights.
    """

    theta: torch.Tensor
    num_features: int
    outputs: int

    @property
    def has_bias(self) -> bool:
        return self.theta.shape[0] > self.num_features

    @property
    def weights(self) -> torch.Tensor:
        return self.theta[: self.num_features]

    @property
    def bias(self) -> torch.Tensor:
        if self.has_bias:
            return self.theta[self.num_features]
        return torch.zeros(self.theta.shape[1])

    @property
    def num_models(self) -> int:
        return self.theta.shape[1] // self.outputs

    def scores(self, features: Features, chunk: int = 65536) -> torch.Tensor:
        """Scores `(rows, models, outputs)` for normalised features, given with or without
        the trailing bias column."""
        parts = []
        if features.shape[1] == self.theta.shape[0]:
            weights, bias = self.theta, torch.zeros(())
        else:
            weights, bias = self.weights, self.bias
        for start in range(0, features.shape[0], chunk):
            x = as_tensor(features[start : start + chunk])
            parts.append(_matmul(x, weights) + bias)
        stacked = torch.cat(parts) if parts else torch.zeros((0, self.theta.shape[1]))
        return stacked.view(-1, self.num_models, self.outputs)

    def model_scores(self, features: Features, chunk: int = 65536) -> torch.Tensor:
        """Single-output scores laid out `(models, rows)`, each model's row contiguous."""
        parts = []
        if features.shape[1] == self.theta.shape[0]:
            weights, bias = self.theta, torch.zeros((1, 1))
        else:
            weights, bias = self.weights, self.bias.unsqueeze(1)
        for start in range(0, features.shape[0], chunk):
            x = as_tensor(features[start : start + chunk])
            product = torch.sparse.mm(x, weights).T if x.is_sparse else weights.T @ x.T
            parts.append(product + bias)
        return torch.cat(parts, dim=1) if parts else torch.zeros((self.theta.shape[1], 0))

    def select(self, model: int) -> tuple[np.ndarray, np.ndarray]:
        """One model's weights `(features, outputs)` and bias `(outputs,)` as float64."""
        cols = slice(model * self.outputs, (model + 1) * self.outputs)
        return (
            self.weights[:, cols].double().numpy().copy(),
            self.bias[cols].double().numpy().copy(),
        )

    def copy(self) -> ParallelModels:
        return ParallelModels(self.theta.clone(), self.num_features, self.outputs)


def as_tensor(features: Features) -> torch.Tensor:
    """A float32 torch view of dense rows, or a sparse COO tensor for scipy CSR rows."""
    if sp.issparse(features):
        csr = sp.csr_matrix(features, dtype=np.float32)
        if not csr.has_canonical_format:  # sorted, duplicate-free: what COO "coalesced" means
            csr = csr.copy()
            csr.sum_duplicates()
        rows = np.repeat(np.arange(csr.shape[0], dtype=np.int64), np.diff(csr.indptr))
        indices = torch.from_numpy(np.vstack([rows, csr.indices.astype(np.int64)]))
        return torch.sparse_coo_tensor(
            indices, torch.from_numpy(csr.data), size=csr.shape, check_invariants=False
        )._coalesced_(True)
    return torch.from_numpy(np.asarray(features, dtype=np.float32))


def _matmul(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    return torch.sparse.mm(x, w) if x.is_sparse else x @ w


def _transpose_matmul(x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """x.T @ g for a dense or sparse minibatch."""
    return torch.sparse.mm(x.t(), g) if x.is_sparse else x.T @ g


class _Optimizer:
    """SGD (momentum), Adam or RMSProp over `theta`, with a learning rate per column (model)
    and a separate multiplier for the bias row."""

    def __init__(
        self, kind: str, theta: torch.Tensor, beta_1: float, beta_2: float, momentum: float
    ) -> None:
        self.kind, self.beta_1, self.beta_2, self.momentum = kind, beta_1, beta_2, momentum
        self.m = torch.zeros_like(theta)
        self.v = torch.zeros_like(theta)
        self.steps = 0

    def step(self, theta: torch.Tensor, grad: torch.Tensor, lr: torch.Tensor) -> None:
        """`lr` broadcasts against `theta`: `(columns,)` or `(rows, columns)`."""
        self.steps += 1
        m, v = self.m, self.v
        if self.kind == "adam":
            m.mul_(self.beta_1).add_(grad, alpha=1.0 - self.beta_1)
            v.mul_(self.beta_2).addcmul_(grad, grad, value=1.0 - self.beta_2)
            # Bias corrections folded into the step size and epsilon (the usual rewrite).
            root_2 = math.sqrt(1.0 - self.beta_2**self.steps)
            denom = v.sqrt().add_(1e-8 * root_2).div_(lr)
            theta.addcdiv_(m, denom, value=-root_2 / (1.0 - self.beta_1**self.steps))
        elif self.kind == "rmsprop":
            # MXNet's RMSProp (the container's optimiser) decays the squared-gradient
            # average with gamma1 = 0.9 and adds epsilon inside the square root.
            v.mul_(0.9).addcmul_(grad, grad, value=0.1)
            update = grad / (v + 1e-8).sqrt_()
            if self.momentum:
                update = m.mul_(self.momentum).add_(update)
            theta.sub_(update * lr)
        else:
            if self.momentum:
                grad = m.mul_(self.momentum).add_(grad)
            theta.sub_(grad * lr)


class Trainer:
    """Runs the minibatch loop for all parallel models of a `TrainingPlan`.

    With a distributed `collective` (a multi-host job) training is data-parallel: each step
    sums every host's minibatch gradient and row count, so every host applies the same update
    to the same parameters (they start equal: the same seed everywhere)."""

    def __init__(
        self, plan: TrainingPlan, num_features: int, collective: Collective | None = None
    ) -> None:
        self.plan = plan
        self.num_features = num_features
        self.collective = collective if collective is not None and collective.distributed else None
        generator = torch.Generator().manual_seed(plan.seed)
        columns = plan.num_models * plan.outputs
        rows = num_features + (1 if plan.use_bias else 0)
        if plan.init_method == "normal":
            theta = torch.randn(rows, columns, generator=generator) * plan.init_sigma
        else:
            theta = (torch.rand(rows, columns, generator=generator) * 2 - 1) * plan.init_scale
        if plan.use_bias:
            theta[num_features] = plan.init_bias
        self.models = ParallelModels(theta, num_features, plan.outputs)
        self.generator = generator
        self.optimizer = _Optimizer(plan.optimizer, theta, plan.beta_1, plan.beta_2, plan.momentum)

        def per_column(values: list[float]) -> torch.Tensor:
            return torch.tensor(values, dtype=torch.float32).repeat_interleave(plan.outputs)

        def per_model(values: list[float], dtype: torch.dtype = torch.float64) -> torch.Tensor:
            return torch.tensor(values, dtype=dtype)

        self._lr0 = per_model([m.learning_rate for m in plan.models])
        self._step = per_model([m.lr_scheduler_step for m in plan.models], torch.int64)
        self._factor = per_model([m.lr_scheduler_factor for m in plan.models])
        self._min_lr = per_model([m.lr_scheduler_minimum_lr for m in plan.models])
        self._boundaries = sorted({int(s) for s in self._step.tolist()})
        wd = per_column([m.wd for m in plan.models])
        l1 = per_column([m.l1 for m in plan.models])
        self._wd = wd if bool(wd.any()) else None
        # The bias row is decayed by wd * bias_wd_mult: undo the rest of the shared decay.
        self._bias_wd_undo = wd * (plan.bias_wd_mult - 1.0) if self._wd is not None else None
        self._l1 = l1 if bool(l1.any()) else None
        mults = [m.positive_example_weight_mult for m in plan.models]
        self._positive_mult = (
            None if all(x == 1.0 for x in mults) else torch.tensor(mults, dtype=torch.float32)
        )
        self._class_weights = (
            None
            if plan.class_weights is None
            else torch.from_numpy(plan.class_weights.astype(np.float32))
        )
        self._lr = self._learning_rates(self._lr0)
        self.updates = 0

    def _learning_rates(self, lr: torch.Tensor) -> torch.Tensor:
        """Per-column rates, or per-element when the bias row has its own multiplier."""
        columns = lr.float().repeat_interleave(self.plan.outputs)
        if not self.plan.use_bias or self.plan.bias_lr_mult == 1.0:
            return columns
        full = columns.expand(self.models.theta.shape[0], -1).clone()
        full[self.num_features] *= self.plan.bias_lr_mult
        return full

    def _refresh_learning_rates(self) -> None:
        """Step decay: lr * factor^(updates // step), floored at the minimum (never above
        the starting rate), per model; recomputed only when some model's step boundary hits."""
        if not self.plan.use_lr_scheduler:
            return
        if not any(self.updates % step == 0 for step in self._boundaries):
            return
        lr = self._lr0 * self._factor ** torch.div(self.updates, self._step, rounding_mode="floor")
        self._lr = self._learning_rates(torch.minimum(torch.maximum(lr, self._min_lr), self._lr0))

    def _row_weights(
        self, labels: torch.Tensor, weights: torch.Tensor | None
    ) -> torch.Tensor | None:
        """Per-row, per-model loss weights `(rows, models)` or `(rows, 1)`, or None."""
        out = None if weights is None else weights.unsqueeze(1)
        if self._positive_mult is not None:
            # Positive rows get the model's multiplier, negative rows 1.
            positive = labels.unsqueeze(1) * (self._positive_mult - 1.0) + 1.0
            out = positive if out is None else out * positive
        if self._class_weights is not None:
            per_class = self._class_weights[labels.long()].unsqueeze(1)
            out = per_class if out is None else out * per_class
        return out

    def minibatch(self, x: torch.Tensor, y: torch.Tensor, w: torch.Tensor | None) -> torch.Tensor:
        """One optimisation step on rows `x` (with the bias column when the models have a
        bias); returns the summed loss per model."""
        plan, theta = self.plan, self.models.theta
        rows = y.shape[0]
        scores = _matmul(x, theta).view(rows, -1, plan.outputs)
        loss, grad = loss_and_grad(plan.loss, scores, y, plan.loss_params)
        row_weights = self._row_weights(y, w)
        if row_weights is not None:
            loss = loss * row_weights
            grad = grad * row_weights.unsqueeze(-1)
        self._update(_transpose_matmul(x, grad.reshape(rows, -1)), rows)
        return loss.sum(0)

    def _update(self, grad: torch.Tensor, rows: int) -> None:
        """The update from the data term's gradient summed over `rows` rows (in place)."""
        plan, theta = self.plan, self.models.theta
        if self.collective is not None:
            grad, total = self._reduced(grad, rows)
            grad.div_(total)
        else:
            grad.div_(rows)
        # Regularisation of the mean minibatch loss: wd/2 * |w|^2 + l1 * |w|_1; the bias row
        # takes wd * bias_wd_mult and no L1. Added after the reduction: the parameters, and so
        # their penalty, are the same on every host and count once.
        if self._wd is not None:
            grad.addcmul_(theta, self._wd)
            if plan.use_bias and self._bias_wd_undo is not None:
                grad[self.num_features].addcmul_(theta[self.num_features], self._bias_wd_undo)
        if self._l1 is not None:
            weights = theta[: self.num_features]
            grad[: self.num_features].addcmul_(torch.sign(weights), self._l1)
        self.optimizer.step(theta, grad, self._lr)
        self.updates += 1
        self._refresh_learning_rates()

    def _reduced(self, grad: torch.Tensor, rows: int) -> tuple[torch.Tensor, float]:
        """Every host's summed gradient and row count, in one allreduce."""
        assert self.collective is not None
        buffer = np.empty(grad.numel() + 1, dtype=np.float32)
        buffer[:-1] = grad.reshape(-1).numpy()
        buffer[-1] = rows  # exact in float32: a minibatch has far fewer than 2**24 rows
        total = self.collective.allreduce_sum(buffer)
        return torch.from_numpy(total[:-1]).view(grad.shape), float(total[-1])

    def run_epoch(
        self,
        epoch: int,
        features: Features,
        labels: torch.Tensor,
        weights: torch.Tensor | None,
    ) -> EpochReport:
        """One pass in minibatches; the batch order is reshuffled each epoch (seeded).
        `features` carry the bias column when the plan uses a bias (`with_bias_column`)."""
        start = time.perf_counter()
        rows = labels.shape[0]
        size = self.plan.mini_batch_size
        batches = math.ceil(rows / size)
        order = torch.randperm(batches, generator=self.generator).tolist()
        # Every host makes as many steps as the host with the most minibatches: one with
        # fewer pads its epoch with empty steps (no gradient, no rows), so each step's
        # allreduce meets one on every host.
        steps = batches
        if self.collective is not None:
            steps = int(self.collective.allreduce_max(np.array([batches], dtype=np.int64))[0])
        dense = None if sp.issparse(features) else as_tensor(features)
        total = torch.zeros(self.plan.num_models)
        with torch.inference_mode():
            for b in order:
                lo, hi = b * size, min((b + 1) * size, rows)
                x = dense[lo:hi] if dense is not None else as_tensor(features[lo:hi])
                w = None if weights is None else weights[lo:hi]
                total += self.minibatch(x, labels[lo:hi], w)
            for _ in range(steps - batches):
                self._update(torch.zeros_like(self.models.theta), 0)
        if self.collective is not None:
            # The epoch's objective over every host's rows.
            sums = np.append(total.double().numpy(), float(rows))
            sums = self.collective.allreduce_sum(sums)
            train_loss = sums[:-1] / max(sums[-1], 1.0)
        else:
            train_loss = (total / rows).double().numpy()
        return EpochReport(
            epoch=epoch,
            train_loss=train_loss,
            records=rows,
            seconds=time.perf_counter() - start,
        )


def evaluate_losses(
    plan: TrainingPlan,
    models: ParallelModels,
    features: Features,
    labels: np.ndarray,
    scaler: Scaler,
) -> np.ndarray:
    """Mean objective loss per model on held-out data, in the label's own units.

    SageMaker's logs report validation objectives in raw label units (a regression log shows
    train `mse_objective` near 1 — normalised — and validation near 88, the raw scale), so the
    scores are mapped back through the label scaler before the loss is taken.
    """
    return _row_losses(plan, models, features, labels, scaler).double().mean(0).numpy()


def loss_totals(
    plan: TrainingPlan,
    models: ParallelModels,
    features: Features,
    labels: np.ndarray,
    scaler: Scaler,
) -> np.ndarray:
    """The summed objective loss per model (`evaluate_losses` times the row count), for
    combining hosts' rows."""
    return _row_losses(plan, models, features, labels, scaler).double().sum(0).numpy()


def _row_losses(
    plan: TrainingPlan,
    models: ParallelModels,
    features: Features,
    labels: np.ndarray,
    scaler: Scaler,
) -> torch.Tensor:
    """Per-row, per-model objective `(rows, models)` in the label's own units."""
    scores = models.scores(features)
    if scaler.label_scale != 1.0 or scaler.label_shift != 0.0:
        scores = scores * scaler.label_scale + scaler.label_shift
    y = torch.from_numpy(labels.astype(np.float32))
    return loss_and_grad(plan.loss, scores, y, plan.loss_params)[0]
