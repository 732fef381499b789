"""A tanh MLP's output as one autograd node with a hand-written backward.

The network is ``y = a_L W_o^T + b_o`` with ``a_l = tanh(z_l)``, ``z_l = a_{l-1} W_l^T + b_l``,
``a_0 = x``. Its backward, with ``s_l = 1 - a_l^2``::

    z_bar_L = (y_bar W_o) * s_L,   z_bar_{l-1} = (z_bar_l W_l) * s_{l-1},
    dW_l = z_bar_l^T a_{l-1},   db_l = sum_batch z_bar_l,   dW_o = y_bar^T a_L,   db_o = sum y_bar.

It computes what ``nn.Sequential(Linear, Tanh, ..., Linear)`` computes, in the same three
``(batch, n) x (n, n)`` products per hidden ``n x n`` layer and step, but without autograd's
per-operation bookkeeping, with ``tanh`` through numpy and the wide float32 products through
oneDNN (:mod:`hamnets.hnn._kernels`). The MLP baseline of ``hamnets hnn`` trains through it.

Higher derivatives stay exact: when the backward itself is recorded (``create_graph=True``)
it recomputes ``y`` from ordinary differentiable operations and differentiates those; under
``torch.func`` transforms the output is computed from those operations directly.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ._kernels import linear, matmul, tanh_
from ._tanh_gradient import _functorch_active


def _composite(x: torch.Tensor, weights: Sequence[torch.Tensor], biases) -> torch.Tensor:
    """The same ``y`` from differentiable operations (for higher derivatives)."""
    a = x
    for w, b in zip(weights[:-1], biases[:-1], strict=True):
        a = torch.tanh(a @ w.T + b)  # (batch, width)
    return a @ weights[-1].T + biases[-1]  # (batch, out)


def _forward(x: torch.Tensor, weights: Sequence[torch.Tensor], biases) -> list[torch.Tensor]:
    """``[a_1, ..., a_L, y]`` without recording anything."""
    outs = []
    a = x
    for w, b in zip(weights[:-1], biases[:-1], strict=True):
        a = tanh_(linear(a, w, b))  # (batch, width)
        outs.append(a)
    outs.append(linear(a, weights[-1], biases[-1]))  # (batch, out)
    return outs


class _TanhMLP(torch.autograd.Function):
    """``(x, W_1, b_1, ..., W_L, b_L, W_o, b_o) -> y`` ``(batch, out)``; see the module text.

    Saved: ``x``, the parameters and every ``a_l``; the backward never modifies them.
    """

    @staticmethod
    def forward(ctx, x, *params):  # noqa: D102 (documented on the class)
        *acts, y = _forward(x, params[0::2], params[1::2])
        ctx.save_for_backward(x, *params, *acts)
        ctx.n_hidden = len(acts)
        return y

    @staticmethod
    def backward(ctx, grad_y):  # noqa: D102
        n = ctx.n_hidden
        x, *saved = ctx.saved_tensors
        params, acts = saved[: 2 * n + 2], saved[2 * n + 2 :]
        weights, biases = params[0::2], params[1::2]
        needs = ctx.needs_input_grad
        if torch.is_grad_enabled():  # create_graph=True: differentiate a recorded recomputation
            inputs = [x, *params]
            wanted = [t for t, need in zip(inputs, needs, strict=True) if need]
            with torch.enable_grad():
                y = _composite(x, weights, biases)
                grads = iter(torch.autograd.grad(y, wanted, grad_y, create_graph=True))
            return tuple(next(grads) if need else None for need in needs)

        grad_y = grad_y.contiguous()
        grad_w = [matmul(grad_y.t(), acts[-1])]  # dW_o (out, width_L)
        grad_b = [grad_y.sum(0)]
        bar = grad_y  # dLoss/d(output of the layer above), (batch, width)
        ins = (x, *acts)  # a_0 .. a_L
        for layer in range(n, 0, -1):  # 1-based hidden layer
            a_bar = matmul(bar, weights[layer])  # dLoss/da_l, (batch, width_l)
            z_bar = torch.ops.aten.tanh_backward(a_bar, ins[layer])  # a_bar * (1 - a_l^2)
            grad_w.insert(0, matmul(z_bar.t(), ins[layer - 1]))  # (width_l, width_{l-1})
            grad_b.insert(0, z_bar.sum(0))
            bar = z_bar
        grad_x = matmul(bar, weights[0]) if needs[0] else None  # (batch, dim)
        grads = [grad_x]
        for w, b in zip(grad_w, grad_b, strict=True):
            grads += [w, b]
        return tuple(gr if need else None for gr, need in zip(grads, needs, strict=True))


def tanh_mlp(
    x: torch.Tensor, weights: Sequence[torch.Tensor], biases: Sequence[torch.Tensor]
) -> torch.Tensor:
    """``y`` ``(batch, out)`` of the tanh MLP with hidden layers ``weights[:-1]``,
    ``biases[:-1]`` and output layer ``weights[-1]``, ``biases[-1]``, as one autograd node.

    Args:
        x: inputs ``(batch, dim)``.
        weights: ``W_l`` of shapes ``(width_l, width_{l-1})``, ``width_0 = dim``, the last
            one the output layer's ``(out, width_L)``.
        biases: ``b_l`` of shapes ``(width_l,)``, one per weight.
    """
    if len(weights) != len(biases) or len(weights) < 2:
        raise ValueError(
            f"need one bias per weight and at least one hidden layer, got {len(weights)} "
            f"weights and {len(biases)} biases."
        )
    if _functorch_active():
        return _composite(x, weights, biases)
    params = [t for pair in zip(weights, biases, strict=True) for t in pair]
    if not (torch.is_grad_enabled() and any(t.requires_grad for t in (x, *params))):
        return _forward(x, weights, biases)[-1]
    return _TanhMLP.apply(x, *params)
