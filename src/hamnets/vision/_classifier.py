"""The image classifier of the H-DNN papers: a convolution, a per-pixel H-DNN, a linear map.

With ``stages > 1`` the same block repeats at half the resolution and twice the channels
(2x2 average pooling, a 3x3 convolution, a per-pixel H-DNN), so the H-DNNs stay the only
non-linearity of the model.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..hdnn import MODEL_NAMES, build_hdnn
from ..hdnn._pixelwise import PixelwiseHDNN
from ._conv_stack import conv_stack_planes


class HDNNImageClassifier(nn.Module):
    """``Conv2d(1 -> C, 3x3, padding 1)`` (no activation), then an H-DNN at every pixel on the
    ``C`` channels (weights shared across pixels), then flatten and ``Linear(C*H*W -> K)``.

    With the paper's sizes (``C = 8``, 28x28 images, ``K = 10``) the linear map is
    6272 -> 10. The flattened features are taken channels-last (pixel-major); this only
    permutes the rows of the linear map's weight, it is the same family of models.

    ``stages = S > 1`` (our extension, not in the papers) appends ``S - 1`` blocks
    ``AvgPool2d(2) -> Conv2d(C_k -> 2 C_k, 3x3, padding 1) -> per-pixel H-DNN(2 C_k)``
    before the linear map, which then reads ``C 2^(S-1) x (H / 2^(S-1)) x (W / 2^(S-1))``
    features. Every H-DNN is of the same kind, with the same ``L`` and ``h``.

    Args:
        model: H-DNN name, one of :data:`hamnets.hdnn.MODEL_NAMES`; the one built.
        n_layers: H-DNN layers ``L``.
        h: step size; the H-DNN's final time is ``t_end = h * L``.
        channels: ``C``, the H-DNN's ``nf`` (even for the models that split the state).
        image_size: ``(H, W)``.
        n_classes: ``K``.
        generator: for the H-DNN's N(0, 1) weights and the convolution / linear init.
        stages: blocks of convolution + H-DNN (1: the papers' model).

        fused: compute channels first (the activations as ``(C, H, W, B)`` planes: the
            convolution as one ``(C_out, 9 C_in) @ (9 C_in, H W B)`` product, the H-DNN as one
            fused autograd node, the linear map as one product with a view of the planes), the
            fast path on a CPU; ``False`` runs the plain modules layer by layer; ``None`` (the
            default) the planes on a CPU and the plain modules elsewhere (on CUDA, where the
            recorded figures were made with them), decided at each call from the input's
            device. Both compute the same function of the same parameters, equal to float
            rounding (``tests/test_hdnn_fused.py``).

    Shapes:
        input ``(B, 1, H, W)`` float; output logits ``(B, K)``.
    """

    def __init__(
        self,
        model: str,
        n_layers: int,
        h: float,
        *,
        channels: int = 8,
        image_size: tuple[int, int] = (28, 28),
        n_classes: int = 10,
        generator: torch.Generator | None = None,
        stages: int = 1,
        fused: bool | None = None,
    ) -> None:
        super().__init__()
        if model not in MODEL_NAMES:
            raise ValueError(f"unknown model {model!r}; choose one of {', '.join(MODEL_NAMES)}.")
        if not h > 0:
            raise ValueError(f"step size h must be > 0, got h={h!r}.")
        if not isinstance(stages, int) or stages < 1:
            raise ValueError(f"stages must be a positive integer, got stages={stages!r}.")
        scale = 2 ** (stages - 1)
        if image_size[0] % scale or image_size[1] % scale:
            raise ValueError(
                f"{stages} stages halve the image {stages - 1} times: its size "
                f"{tuple(image_size)} must be divisible by {scale}."
            )
        self.model_name = model
        self.image_size = tuple(image_size)
        self.stages = stages
        self.conv = nn.Conv2d(1, channels, kernel_size=3, padding=1)
        self.hamiltonian = PixelwiseHDNN(
            build_hdnn(model, channels, n_layers, h * n_layers, generator=generator)
        )
        self.more = nn.ModuleList()  # stages 2..S: pool, conv, per-pixel H-DNN
        width = channels
        for _ in range(stages - 1):
            block = nn.Module()
            block.conv = nn.Conv2d(width, 2 * width, kernel_size=3, padding=1)
            width *= 2
            block.hamiltonian = PixelwiseHDNN(
                build_hdnn(model, width, n_layers, h * n_layers, generator=generator)
            )
            self.more.append(block)
        n_features = width * (self.image_size[0] // scale) * (self.image_size[1] // scale)
        self.fc = nn.Linear(n_features, n_classes)
        self.fused = None if fused is None else bool(fused)
        if generator is not None:  # reproducible default-style init without global state
            convs = [self.conv, *(block.conv for block in self.more)]
            for layer in (*convs, self.fc):
                bound = 1.0 / layer.weight[0].numel() ** 0.5
                with torch.no_grad():
                    layer.weight.uniform_(-bound, bound, generator=generator)
                    layer.bias.uniform_(-bound, bound, generator=generator)

    @property
    def hdnn(self):
        """The H-DNN (a :class:`hamnets.hdnn.HamiltonianDNN`)."""
        return self.hamiltonian.hdnn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != 1 or tuple(x.shape[2:]) != self.image_size:
            raise ValueError(
                f"expected images of shape (batch, 1, {self.image_size[0]}, "
                f"{self.image_size[1]}), got {tuple(x.shape)}."
            )
        fused = x.device.type == "cpu" if self.fused is None else self.fused
        for pixelwise in (self.hamiltonian, *(block.hamiltonian for block in self.more)):
            pixelwise.hdnn.fused = fused
        if fused:
            return self._forward_planes(x)
        y = self.conv(x)  # (B, C, H, W)
        y = self.hamiltonian(y)  # (B, H, W, C)
        for block in self.more:
            y = F.avg_pool2d(PixelwiseHDNN.channels_first(y), 2)  # (B, C, H/2, W/2)
            y = block.hamiltonian(block.conv(y))  # (B, H/2, W/2, 2C)
        return self.fc(y.flatten(1))  # (B, C*H*W) -> (B, K)

    def _forward_planes(self, x: torch.Tensor) -> torch.Tensor:
        """:meth:`forward` with the activations kept as channel planes ``(C, H, W, B)``, the
        batch innermost: the read-out is then one product with a view of them."""
        planes = x.permute(1, 2, 3, 0)  # (1, H, W, B)
        y = conv_stack_planes(self.hdnn, planes, self.conv)  # MS1's C stack, where it runs
        if y is None:
            y = self.hamiltonian.forward_planes(_conv3x3_planes(planes, self.conv))  # (C, H, W, B)
        for block in self.more:
            y = _avg_pool2_planes(y)  # (C, H/2, W/2, B)
            y = block.hamiltonian.forward_planes(_conv3x3_planes(y, block.conv))  # (2C, ...)
        c, h, w, b = y.shape
        # fc reads pixel-major features (h, w, c); reorder its weight (K x C H W numbers) to the
        # planes' (c, h, w) rows instead of copying the activations: logits^T = W' Y + bias,
        # with Y the planes as a (C H W, B) view (a copy only where the layers returned a
        # transposed result).
        weight = self.fc.weight.view(-1, h * w, c).transpose(1, 2).reshape(-1, c * h * w)
        logits_t = torch.addmm(self.fc.bias.unsqueeze(1), weight, y.reshape(c * h * w, b))
        return _FlushSubnormalGradient.apply(logits_t.t())  # (B, K)

    def regularizer(self, alpha: float) -> torch.Tensor:
        """The smoothness regulariser of the H-DNNs' weights across layers (summed over
        stages)."""
        total = self.hamiltonian.regularizer(alpha)
        for block in self.more:
            total = total + block.hamiltonian.regularizer(alpha)
        return total


class _FlushSubnormalGradient(torch.autograd.Function):
    """The identity, whose backward sets the gradient's subnormal entries to zero.

    Once the classifier is confident, cross-entropy's gradient with respect to the logits
    holds many subnormal floats (below 1.2e-38 in float32); every product of the backward that
    reads them then runs up to 100x slower on a CPU. Flushing them here (``B x K`` numbers)
    changes the gradients by less than 1.2e-38 each, what ``torch.set_flush_denormal`` would
    do, without touching the process-wide floating-point mode.
    """

    @staticmethod
    def forward(ctx, logits: torch.Tensor) -> torch.Tensor:
        return logits.view_as(logits)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        tiny = torch.finfo(grad.dtype).tiny
        return torch.where(grad.abs() < tiny, torch.zeros((), dtype=grad.dtype), grad)


def _conv3x3_planes(x: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
    """``conv`` (3x3, stride 1, padding 1) on channel planes: ``(C_in, H, W, B) -> (C_out, H,
    W, B)``, as one ``(C_out, 9 C_in) @ (9 C_in, H W B)`` product of the weight with the nine
    shifted copies of the zero-padded input (cross-correlation, as ``nn.Conv2d``)."""
    c_in, h, w, b = x.shape
    padded = F.pad(x, (0, 0, 1, 1, 1, 1))  # (C_in, H+2, W+2, B)
    shifts = [padded[:, i : i + h, j : j + w] for i in range(3) for j in range(3)]
    cols = torch.stack(shifts, 1).view(c_in * 9, h * w * b)  # rows (c, 3 i + j), like the weight
    weight = conv.weight.view(conv.out_channels, c_in * 9)  # (C_out, 9 C_in)
    out = torch.addmm(conv.bias.unsqueeze(1), weight, cols)  # (C_out, H*W*B)
    return out.view(conv.out_channels, h, w, b)


def _avg_pool2_planes(y: torch.Tensor) -> torch.Tensor:
    """2x2 average pooling of channel planes: ``(C, H, W, B) -> (C, H/2, W/2, B)``."""
    c, h, w, b = y.shape
    return y.reshape(c, h // 2, 2, w // 2, 2, b).mean((2, 4))
