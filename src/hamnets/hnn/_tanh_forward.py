"""A tanh MLP's output as one autograd node with a hand-written backward.

The network is ``y = a_L W_o^T + b_o`` with ``a_l = tanh(z_l)``, ``z_l = a_{l-1} W_l^T + b_l``,
``a_0 = x``. Its backward, with ``s_l = 1 - a_l^2``::

    z_bar_L = (y_bar W_o) * s_L,   z_bar_{l-1} = (z_bar_l W_l) * s_{l-1},
    dW_l = z_bar_l^T a_{l-1},   db_l = sum_batch z_bar_l,   dW_o = y_bar^T a_L,   db_o = sum y_bar.

It computes what ``nn.Sequential(Linear, Tanh, ..., Linear)`` computes, in the same three
``(batch, n) x (n, n)`` products per hidden ``n x n`` layer and step, but without autograd's
per-operation bookkeeping, with ``tanh`` through numpy and the wide float32 products through
oneDNN (:mod:`hamnets._kernels`). The MLP baseline of ``hamnets hnn`` trains through it.

Higher derivatives stay exact: when the backward itself is recorded (``create_graph=True``)
it recomputes ``y`` from ordinary differentiable operations and differentiates those; under
``torch.func`` transforms the output is computed from those operations directly.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .._kernels import linear, matmul, tanh_
from ._tanh_gradient import _functorch_active


def _composite(x: torch.Tensor, weights: Sequence[torch.Tensor], biases) -> torch.Tensor:
    """The same ``y`` from differentiable operations (for higher derivatives)."""
    a = x
    for w, b in zip(weights[:-1], biases[:-1], strict=True):
        a = torch.tanh(a @ w.T + b)  # (batch, width)
    return a @ weights[-1].T + biases[-1]  # (batch, out)


def _forward(x: torch.Tensor, weights: Sequence[torch.Tensor], biases) -> list[torch.Tensor]:
    """``[a_1, ..., a_L, y]`` without recording anything (row-major: for small batches)."""
    outs = []
    a = x
    for w, b in zip(weights[:-1], biases[:-1], strict=True):
        a = tanh_(linear(a, w, b))  # (batch, width)
        outs.append(a)
    outs.append(linear(a, weights[-1], biases[-1]))  # (batch, out)
    return outs


def _tanh_backward_(grad: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """``grad <- grad (1 - a^2)`` in place: torch's ``tanh_backward`` kernel (the same
    arithmetic, so the same bits) writing into ``grad`` instead of a new buffer."""
    return torch.ops.aten.tanh_backward.grad_input(grad, a, grad_input=grad)


class _TanhMLP(torch.autograd.Function):
    """``(x, W_1, b_1, ..., W_L, b_L, W_o, b_o) -> y`` ``(batch, out)``; see the module text.

    Inside, the activations are held transposed, ``(width, batch)``: the weight gradients
    contract over the batch, and ``z_bar_l^T a_{l-1}`` then reads both operands in the
    layout oneDNN wants (no transposed copy). Saved: ``x``, the parameters, contiguous
    ``W_l^T`` for the hidden layers after the first, and every ``a_l^T``; the backward never
    modifies them.
    """

    @staticmethod
    def forward(ctx, x, *params):  # noqa: D102 (documented on the class)
        weights, biases = params[0::2], params[1::2]
        acts = []  # a_l^T, (width_l, batch)
        a = x.t()  # (dim, batch)
        for w, b in zip(weights[:-1], biases[:-1], strict=True):
            a = tanh_(matmul(w, a).add_(b[:, None]))  # z_l^T = W_l a_{l-1}^T + b_l
            acts.append(a)
        y = matmul(weights[-1], a).add_(biases[-1][:, None]).t().contiguous()  # (batch, out)
        w_t = [w.t().contiguous() for w in weights[1:-1]]  # W_l^T, l = 2 .. L
        ctx.save_for_backward(x, *params, *w_t, *acts)
        ctx.n_hidden = len(acts)
        return y

    @staticmethod
    def backward(ctx, grad_y):  # noqa: D102
        n = ctx.n_hidden
        x, *saved = ctx.saved_tensors
        params, saved = saved[: 2 * n + 2], saved[2 * n + 2 :]
        w_t, acts = [None, *saved[: n - 1]], saved[n - 1 :]
        weights, biases = params[0::2], params[1::2]
        needs = ctx.needs_input_grad
        if torch.is_grad_enabled():  # create_graph=True: differentiate a recorded recomputation
            inputs = [x, *params]
            wanted = [t for t, need in zip(inputs, needs, strict=True) if need]
            with torch.enable_grad():
                y = _composite(x, weights, biases)
                grads = iter(torch.autograd.grad(y, wanted, grad_y, create_graph=True))
            return tuple(next(grads) if need else None for need in needs)

        y_rows = grad_y.t().contiguous()  # dLoss/dy transposed, (out, batch)
        grad_w = [matmul(y_rows, acts[-1].t())]  # dW_o (out, width_L)
        grad_b = [y_rows.sum(1)]
        # a_bar_L^T = W_o^T y_bar^T: a skinny product, (width_L, out) x (out, batch)
        a_bar = matmul(weights[-1].t(), y_rows)
        for layer in range(n, 0, -1):  # 1-based hidden layer
            # z_bar = a_bar (1 - a^2), in a_bar's buffer (a product's output, the node's own)
            z_bar = _tanh_backward_(a_bar, acts[layer - 1])
            grad_b.insert(0, z_bar.sum(1))
            if layer > 1:  # dW_l = z_bar_l^T a_{l-1}: (width_l, batch) x (batch, width_{l-1})
                grad_w.insert(0, matmul(z_bar, acts[layer - 2].t()))
                a_bar = matmul(w_t[layer - 1], z_bar)  # a_bar_{l-1}^T = W_l^T z_bar_l^T
            else:  # dW_1 = z_bar_1^T x, skinny: (dim, batch) x (batch, width_1), transposed
                grad_w.insert(0, matmul(x.t().contiguous(), z_bar.t()).t())
        grad_x = matmul(weights[0].t(), z_bar).t() if needs[0] else None  # (batch, dim)
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
