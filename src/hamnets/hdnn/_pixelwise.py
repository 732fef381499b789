"""An H-DNN applied at every pixel of a feature map, with weights shared across pixels."""

from __future__ import annotations

import torch
from torch import nn

from ._base import HamiltonianDNN


class PixelwiseHDNN(nn.Module):
    """Run one H-DNN on the channel vector of every pixel (a stack of structured 1x1 convs).

    Every pixel's ``C`` channels are one H-DNN state; all pixels share the weights. The whole
    batch of pixels goes through the H-DNN as one matrix, so each layer is a single matrix
    product, not one call per pixel. With the H-DNN's ``fused`` (the default) the pixels are
    the columns of a channels-first ``(C, B * H * W)`` matrix and the layers run as one
    autograd node (:meth:`HamiltonianDNN.forward_channels_first`); otherwise they are the rows
    of a ``(B * H * W, C)`` matrix in the plain layer loop. Both give the same numbers to float
    rounding.

    Args:
        hdnn: the H-DNN; its ``nf`` is the number of channels ``C``.

    Shapes:
        input ``(B, C, H, W)``; output ``(B, H, W, C)`` (**channels last**; with ``fused`` a
        channels-last view of a channels-first tensor, see :meth:`channels_first`).
        :meth:`forward_planes` keeps the channels-first layout ``(C, B, H, W)`` throughout.
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
        if self.hdnn.fused and self.hdnn.has_fused:
            planes = self.forward_planes(x.transpose(0, 1))  # (C, B, H, W)
            return planes.permute(1, 2, 3, 0)  # (B, H, W, C), a view
        y = x.permute(0, 2, 3, 1).reshape(b * h * w, c)  # (B*H*W, C): one state per pixel
        y = self.hdnn(y)  # (B*H*W, C)
        return y.reshape(b, h, w, c)  # (B, H, W, C)

    def forward_planes(self, x: torch.Tensor) -> torch.Tensor:
        """The H-DNN at every pixel of channel planes: ``(C, d1, d2, d3) -> (C, d1, d2, d3)``
        (the image classifier's ``(C, H, W, B)``; any order of the pixel axes).

        Each channel is one contiguous plane of all ``d1 * d2 * d3`` pixels, so a layer's product
        is one wide ``(C, C) @ (C, B * H * W)`` product (the fastest layout on a CPU for the
        small ``C`` of these models).
        """
        if x.dim() != 4 or x.shape[0] != self.hdnn.nf:
            raise ValueError(
                f"PixelwiseHDNN.forward_planes expects ({self.hdnn.nf}, H, W, batch), "
                f"got {tuple(x.shape)}."
            )
        y = self.hdnn.forward_channels_first(x.reshape(x.shape[0], -1))  # (C, pixels)
        return y.view(x.shape)

    @staticmethod
    def channels_first(y: torch.Tensor) -> torch.Tensor:
        """``(B, H, W, C) -> (B, C, H, W)``."""
        return y.permute(0, 3, 1, 2)

    def regularizer(self, alpha: float) -> torch.Tensor:
        """The H-DNN's smoothness regulariser (see :meth:`HamiltonianDNN.regularizer`)."""
        return self.hdnn.regularizer(alpha)
