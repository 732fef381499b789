"""Multinomial logistic regression on raw pixels: the baseline the H-DNN papers compare to."""

from __future__ import annotations

import torch
from torch import nn


class LogisticRegression(nn.Module):
    """``logits = W vec(x) + c``: softmax regression on the pixels.

    Args:
        image_size: ``(H, W)``.
        n_classes: ``K``.
        generator: for the default-style uniform initialisation.

    Shapes:
        input ``(B, 1, H, W)``; output ``(B, K)``.
    """

    def __init__(
        self,
        *,
        image_size: tuple[int, int] = (28, 28),
        n_classes: int = 10,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.image_size = tuple(image_size)
        n_in = self.image_size[0] * self.image_size[1]
        self.fc = nn.Linear(n_in, n_classes)
        bound = 1.0 / n_in**0.5
        with torch.no_grad():
            self.fc.weight.uniform_(-bound, bound, generator=generator)
            self.fc.bias.uniform_(-bound, bound, generator=generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.flatten(1))  # (B, H*W) -> (B, K)

    def regularizer(self, alpha: float) -> torch.Tensor:
        """No layers to smooth: zero (kept so that every image model has the same interface)."""
        return self.fc.weight.new_zeros(())
