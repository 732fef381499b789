"""The classifier's first stage, convolution and per-pixel MS1, as one node of MS1's C stack.

The 3x3 convolution's output is the stack's input; on the torch path it is built from nine
shifted copies of the input (an ``(9 C_in, H W B)`` matrix written on every step), kept for
the weight gradient (one more product over all pixels). Here the C stack computes each
block's input from the input planes itself (nine taps per pixel) and, in the backward, the
convolution's weight and bias gradients next to the stack's (:class:`hamnets.hdnn._cstack.Conv`):
nothing of the size of the feature map is written but the stack's output. The same numbers
as the two nodes it replaces, to float rounding (``tests/test_hdnn_cstack.py``).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.autograd.function import once_differentiable

from ..hdnn import _cstack
from ..hdnn._fused import _functorch_active
from ..hdnn._ms1 import MS1


def conv_stack_planes(hdnn: MS1 | object, x: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor | None:
    """``hdnn`` at every pixel of ``conv(x)``, channels first: ``(C_in, H, W, B) -> (C, H, W,
    B)``, as one node of the C stack; None where that does not apply (not MS1, no C stack,
    not float32 on a CPU, a gradient wanted for ``x``, the layer loop asked for, ...)."""
    if not (isinstance(hdnn, MS1) and hdnn.use_c and hdnn.fused):
        return None
    c_in, h, w, b = x.shape
    if (
        conv.kernel_size != (3, 3)
        or conv.padding != (1, 1)
        or conv.stride != (1, 1)
        or conv.dilation != (1, 1)
        or conv.groups != 1
        or conv.bias is None
        or conv.out_channels != hdnn.nf
        or x.requires_grad
        or not hdnn._runs_fused(hdnn.n_layers, h * w * b)
        or _functorch_active()
    ):
        return None
    params = hdnn._fused_params()
    if not _cstack.usable(hdnn.nf, x, conv.weight, conv.bias, *params):
        return None
    keep = torch.is_grad_enabled() and any(
        t.requires_grad for t in (conv.weight, conv.bias, *params)
    )
    return _ConvStack.apply(hdnn, keep, x, conv.weight, conv.bias, *params)


def uses_c_stack(model: nn.Module, n_pixels: int) -> bool:
    """Whether ``model`` (an image classifier, or a wrapper of one with ``.module``) runs
    MS1's C stack on batches of ``n_pixels`` pixels (batch size times H W): an MS1 H-DNN, the
    fused path, float32 weights on a CPU, the C stack built (a run's rounding depends on it;
    ``metrics.json`` records it)."""
    model = getattr(model, "module", model)
    hdnn = getattr(model, "hdnn", None)
    if not (isinstance(hdnn, MS1) and hdnn.use_c and getattr(model, "fused", None) is not False):
        return False
    weight = model.conv.weight
    return (
        weight.device.type == "cpu"
        and hdnn._runs_fused(hdnn.n_layers, n_pixels)
        and _cstack.usable(hdnn.nf, weight)
    )


class _ConvStack(torch.autograd.Function):
    """conv + MS1 stack: inputs ``x`` (no gradient), the conv's weight and bias and the MS1
    parameters of :meth:`MS1._fused_params`; output ``(C, H, W, B)``."""

    @staticmethod
    def forward(ctx, model, keep, x, weight, bias, K, b_z, neg_Kt, b_u):
        c_in, h, w, b = x.shape
        n_cols, n_layers = h * w * b, K.shape[0]
        conv = _cstack.Conv(x, weight, bias)
        out = x.new_empty(model.nf, n_cols)
        acts = None
        if keep:  # the activations buffer, from the model's workspace (as the fused node's)
            shape = _cstack.acts_shape(model.nf, n_cols, n_layers)
            ctx.lease, acts = model._workspace.take(shape, x)
        b_all = model._c_bias((K, b_z, neg_Kt, b_u))  # (L, nf) = [b_u; b_z]
        _cstack.forward(None, out, K, b_all, model.h, acts, conv=conv)
        ctx.conv, ctx.acts, ctx.h, ctx.weight_shape = conv, acts, model.h, weight.shape
        ctx.save_for_backward(K, b_all)
        return out.view(model.nf, h, w, b)

    @staticmethod
    @once_differentiable
    def backward(ctx, g_out):
        K, b_all = ctx.saved_tensors
        g_out = g_out.reshape(g_out.shape[0], -1)
        _, gK, gb_z, g_neg_Kt, gb_u, gw, gb = _cstack.backward(
            None, K, b_all, ctx.h, g_out, ctx.acts, conv=ctx.conv
        )
        return None, None, None, gw.view(ctx.weight_shape), gb, gK, gb_z, g_neg_Kt, gb_u
