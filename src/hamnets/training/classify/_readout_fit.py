"""Fitting a binary linear read-out on frozen features with Adam and closed-form gradients.

The loss is ``mean BCE-with-logits(W y + mu, label) + ridge * 0.5 * (||W||^2 + mu^2)``.
Its gradient with respect to ``w = [W, mu]`` is ``Ya^T (sigmoid(Ya w) - label) / B + ridge w``
with ``Ya = [y, 1]``, so no autograd graph is needed: each Adam step is a handful of tensor
operations on a vector of ``nf + 1`` numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["AdamReadout", "augment"]


def augment(features: torch.Tensor) -> torch.Tensor:
    """Append a column of ones: (batch, nf) -> (batch, nf + 1)."""
    ones = features.new_ones(features.shape[0], 1)
    return torch.cat([features, ones], dim=1)


@dataclass
class AdamReadout:
    """Adam on the read-out vector ``w = [W, mu]`` (length nf + 1), started at zero.

    Args:
        nf: number of features.
        lr: Adam step size.
        ridge: ridge coefficient (the ``alpha_c`` of the papers).
        betas, eps: Adam's constants (PyTorch defaults).
    """

    nf: int
    lr: float = 0.05
    ridge: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    device: torch.device | str = "cpu"
    dtype: torch.dtype = torch.float32

    def __post_init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Zero the read-out and Adam's moments."""
        shape = (self.nf + 1,)
        self.w = torch.zeros(shape, device=self.device, dtype=self.dtype)
        self.m = torch.zeros_like(self.w)
        self.v = torch.zeros_like(self.w)
        self.t = 0

    @property
    def W(self) -> torch.Tensor:
        """(1, nf) read-out weights."""
        return self.w[:-1].unsqueeze(0)

    @property
    def mu(self) -> torch.Tensor:
        """(1,) read-out bias."""
        return self.w[-1:]

    def step(self, features_aug: torch.Tensor, labels: torch.Tensor) -> None:
        """One Adam step: ``features_aug`` (B, nf + 1) from :func:`augment`, labels (B,)."""
        b1, b2 = self.betas
        residual = torch.sigmoid(features_aug @ self.w).sub_(labels)  # (B,)
        grad = torch.addmv(
            self.w, features_aug.t(), residual, beta=self.ridge, alpha=1.0 / labels.shape[0]
        )  # (nf + 1,)
        self.t += 1
        self.m.mul_(b1).add_(grad, alpha=1 - b1)
        self.v.mul_(b2).addcmul_(grad, grad, value=1 - b2)
        denom = (self.v / (1 - b2**self.t)).sqrt_().add_(self.eps)
        self.w.addcdiv_(self.m, denom, value=-self.lr / (1 - b1**self.t))

    def fit(self, features_aug: torch.Tensor, labels: torch.Tensor, steps: int) -> None:
        """``steps`` Adam steps on one batch, from the current state."""
        for _ in range(steps):
            self.step(features_aug, labels)

    def logits(self, features: torch.Tensor) -> torch.Tensor:
        """(B, nf) features -> (B,) logits."""
        return features @ self.w[:-1] + self.w[-1]

    def state_dict(self) -> dict:
        return {"w": self.w, "m": self.m, "v": self.v, "t": self.t}

    def load_state_dict(self, state: dict) -> None:
        self.w, self.m, self.v = (state[k].to(self.device) for k in ("w", "m", "v"))
        self.t = int(state["t"])
