"""The linear read-out that turns the last H-DNN state into logits."""

from __future__ import annotations

import torch
from torch import nn


class Readout(nn.Module):
    """``logit = W y_L + mu`` with ``W`` (n_out, nf) and ``mu`` (n_out,), both zero at start.

    Args:
        nf: number of features of the last state.
        n_out: number of logits (1 for binary classification).

    Shapes:
        input ``(batch, nf)``; output ``(batch, n_out)``.
    """

    def __init__(self, nf: int, n_out: int = 1) -> None:
        super().__init__()
        self.W = nn.Parameter(torch.zeros(n_out, nf))
        self.mu = nn.Parameter(torch.zeros(n_out))

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return torch.addmm(self.mu, y, self.W.t())  # (batch, n_out)
