"""An H-DNN applied at every pixel of a feature map, with weights shared across pixels."""

from __future__ import annotations

import torch
from torch import nn

from ._base import HamiltonianDNN


class PixelwiseHDNN(nn.Module):
    """Run one H-DNN on the channel vector of every pixel (a stack of structured 1x1 convs).

    Every pixel's ``C`` channels are one H-DNN state; all pixels share the weights. The whole
    batch of pixels goes through the H-DNN's layer loop as one ``(B * H * W, C)`` matrix, so
    each layer is a single matrix product, not one call per pixel.

    Args:
        hdnn: the H-DNN; its ``nf`` is the number of channels ``C``.

    Shapes:
        input ``(B, C, H, W)``; output ``(B, H, W, C)`` (**channels last**, so the caller
        can flatten without a copy back to channels-first; see :meth:`channels_first`).
    """

    def __init__(self, hdnn: HamiltonianDNN) -> None:
        super().__init__()
        if not isinstance(hdnn, HamiltonianDNN):
            raise ValueError(f"PixelwiseHDNN wraps a HamiltonianDNN, got {type(hdnn).__name__}.")
        self.hdnn = hdnn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.hdnn.nf:
            raise ValueError(
                f"PixelwiseHDNN expects (batch, {self.hdnn.nf}, H, W), got {tuple(x.shape)}."
            )
        b, c, h, w = x.shape
        y = x.permute(0, 2, 3, 1).reshape(b * h * w, c)  # (B*H*W, C): one state per pixel
        y = self.hdnn(y)  # (B*H*W, C)
        return y.reshape(b, h, w, c)  # (B, H, W, C)

    @staticmethod
    def channels_first(y: torch.Tensor) -> torch.Tensor:
        """``(B, H, W, C) -> (B, C, H, W)``."""
        return y.permute(0, 3, 1, 2)

    def regularizer(self, alpha: float) -> torch.Tensor:
        """The H-DNN's smoothness regulariser (see :meth:`HamiltonianDNN.regularizer`)."""
        return self.hdnn.regularizer(alpha)
