"""The two training protocols of ``hamnets classify``: the papers' and ours.

A protocol owns the optimisers and the read-out; the fit loop owns data, epochs and
checkpoints. Both share the loss ``mean BCE-with-logits + R`` with the smoothness regulariser
``R`` of :meth:`hamnets.hdnn.HamiltonianDNN.regularizer`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ...hdnn import HamiltonianDNN, Readout
from .._adam import adam
from .._parallel import Parallel
from ._config import ClassifyConfig
from ._readout_fit import AdamReadout, augment

__all__ = ["PaperProtocol", "JointProtocol", "paper_lr_factor", "make_protocol"]


def _adam_bias_gain(t: int, betas: tuple[float, float]) -> float:
    """Adam's bias-correction gain ``sqrt(1 - b2^t) / (1 - b1^t)`` at step ``t >= 1``."""
    b1, b2 = betas
    return math.sqrt(1 - b2**t) / (1 - b1**t)


def paper_lr_factor(epoch: int, step: int, betas: tuple[float, float] = (0.9, 0.999)) -> float:
    """The learning-rate multiplier that reproduces the reference code's Adam.

    The reference implementation sets Adam's step counter to the epoch index before every
    network step, so Adam's bias correction is computed with ``t = epoch + 1`` instead of the
    true step number ``step`` (1-based). Adam's moments are unaffected, so this is exactly a
    learning-rate schedule: ``gain(epoch + 1) / gain(step)`` with
    ``gain(t) = sqrt(1 - b2^t) / (1 - b1^t)``. It is about 1.3-2x during epoch 0 and falls to
    about 0.25x from epoch 10 on (32 steps per epoch). (The reference resets the counter of
    the first two parameter tensors only; we apply the schedule to all of them.)
    """
    return _adam_bias_gain(epoch + 1, betas) / _adam_bias_gain(step, betas)


def _optimizer(params: list[torch.Tensor], config: ClassifyConfig):
    """Adam at ``config.lr``: on torch's fused kernel with ``config.fused`` (where it serves
    the parameters: :func:`hamnets.training._adam.adam`), else ``torch.optim.Adam``'s default
    implementation (the same update to float32 rounding)."""
    if config.fused:
        return adam(params, lr=config.lr, weight_decay=0.0)
    return torch.optim.Adam(params, lr=config.lr)


def _bce(logits: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Mean BCE-with-logits and the number of correct predictions (logit >= 0 for 1)."""
    loss = F.binary_cross_entropy_with_logits(logits, y)
    return loss, int(((logits.detach() >= 0).float() == y).sum())


def _network_step(
    optimizer,
    model: HamiltonianDNN,
    data_loss: torch.Tensor,
    correct: int,
    config: ClassifyConfig,
    lr: float,
) -> tuple[float, int]:
    """One Adam step at learning rate ``lr`` on ``data_loss + R``; returns (loss, correct)."""
    loss = data_loss + model.regularizer(config.alpha, node=config.fused)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    for group in optimizer.param_groups:
        group["lr"] = lr
    optimizer.step()
    return float(loss.detach()), correct


class PaperProtocol:
    """The reference procedure (Galimberti et al.; DecodEPFL/HamiltonianNet).

    Per mini-batch, a fresh zero read-out gets ``readout_steps`` Adam steps on the frozen
    network output (ridge ``readout_ridge``), then the network takes one Adam step on
    BCE + R with the learning rate scaled by :func:`paper_lr_factor`. After training, a new
    read-out is fitted for ``final_readout_epochs`` epochs on the frozen features.
    """

    name = "paper"

    def __init__(
        self,
        model: HamiltonianDNN,
        config: ClassifyConfig,
        device: torch.device,
        parallel: Parallel | None = None,
    ):
        self.model = model
        self.config = config
        self.parallel = Parallel() if parallel is None else parallel
        self.net = self.parallel.wrap(model)  # DDP in a multi-process job: averages gradients
        self.optimizer = _optimizer(list(model.parameters()), config)
        backend = "numpy" if config.fused and device.type == "cpu" else "torch"
        self.readout, self.final = (
            AdamReadout(
                model.nf, lr=config.lr, ridge=config.readout_ridge, device=device, backend=backend
            )
            for _ in range(2)
        )

    def lr_at(self, epoch: int, step: int, steps_per_epoch: int) -> float:
        return self.config.lr * paper_lr_factor(epoch, step + 1)

    def train_step(
        self, x: torch.Tensor, y: torch.Tensor, epoch: int, step: int, steps_per_epoch: int
    ) -> tuple[float, int]:
        """One network step on a batch x (B, nf), y (B,); returns (loss, number correct)."""
        features = self.net(x)  # (B, nf); B is this rank's shard in a multi-process job
        self.readout.reset()
        # The read-out is fitted on the whole global batch, the same on every rank.
        every = self.parallel.gather_rows(features.detach())  # (B_global, nf)
        self.readout.fit(augment(every), self.parallel.gather_rows(y), self.config.readout_steps)
        data_loss, correct = self.readout.loss(features, y)
        lr = self.lr_at(epoch, step, steps_per_epoch)
        return _network_step(self.optimizer, self.model, data_loss, correct, self.config, lr)

    @torch.no_grad()
    def fit_classifier(
        self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator, batch_size: int
    ) -> None:
        """Fit the final read-out on the frozen features of the whole training set."""
        features = augment(self.model(x))  # (n, nf + 1)
        self.final.reset()
        n_batches = x.shape[0] // batch_size
        for _ in range(self.config.final_readout_epochs):
            perm = torch.randperm(x.shape[0], generator=generator).to(x.device)
            for b in range(n_batches):
                idx = perm[b * batch_size : (b + 1) * batch_size]
                self.final.step(features[idx], y[idx])

    def classifier(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(W (1, nf), mu (1,)) of the final read-out."""
        return self.final.W, self.final.mu

    def state_dict(self) -> dict:
        return {"optimizer": self.optimizer.state_dict(), "final": self.final.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.final.load_state_dict(state["final"])


class JointProtocol:
    """Ours: network and read-out trained end to end with one Adam optimiser.

    Learning rate: linear warm-up over ``warmup_epochs`` epochs, then a cosine decay to
    ``lr * final_lr_fraction`` at the last step. Loss: BCE + R. The read-out is the
    :class:`hamnets.hdnn.Readout` trained with the network; no refit afterwards.
    """

    name = "joint"

    def __init__(
        self,
        model: HamiltonianDNN,
        config: ClassifyConfig,
        device: torch.device,
        parallel: Parallel | None = None,
    ):
        self.model = model
        self.config = config
        self.readout = Readout(model.nf).to(device)
        parallel = Parallel() if parallel is None else parallel
        self.net, self.head = parallel.wrap(model), parallel.wrap(self.readout)
        params = list(model.parameters()) + list(self.readout.parameters())
        self.optimizer = _optimizer(params, config)

    def lr_at(self, epoch: int, step: int, steps_per_epoch: int) -> float:
        cfg = self.config
        total = cfg.epochs * steps_per_epoch
        warm = cfg.warmup_epochs * steps_per_epoch
        if step < warm:
            return cfg.lr * (step + 1) / warm
        progress = (step - warm) / max(1, total - warm - 1)
        floor = cfg.final_lr_fraction
        return cfg.lr * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))

    def train_step(
        self, x: torch.Tensor, y: torch.Tensor, epoch: int, step: int, steps_per_epoch: int
    ) -> tuple[float, int]:
        data_loss, correct = _bce(self.head(self.net(x)).squeeze(1), y)  # logits (B,)
        lr = self.lr_at(epoch, step, steps_per_epoch)
        return _network_step(self.optimizer, self.model, data_loss, correct, self.config, lr)

    def fit_classifier(
        self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator, batch_size: int
    ) -> None:
        """Nothing to do: the read-out was trained with the network."""

    def classifier(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.readout.W.detach(), self.readout.mu.detach()

    def state_dict(self) -> dict:
        return {"optimizer": self.optimizer.state_dict(), "readout": self.readout.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.readout.load_state_dict(state["readout"])
        self.optimizer.load_state_dict(state["optimizer"])


def make_protocol(
    model: HamiltonianDNN,
    config: ClassifyConfig,
    device: torch.device,
    parallel: Parallel | None = None,
) -> PaperProtocol | JointProtocol:
    if config.protocol == "paper":
        return PaperProtocol(model, config, device, parallel)
    return JointProtocol(model, config, device, parallel)
