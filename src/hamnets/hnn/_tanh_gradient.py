"""``grad_x H`` of a tanh MLP energy as one autograd node with a hand-written backward.

The energy is ``H(x) = w . a_L + c`` with ``a_l = tanh(z_l)``, ``z_l = a_{l-1} W_l^T + b_l``,
``a_0 = x``. Its input gradient is the backward pass written out, with ``s_l = 1 - a_l^2``::

    delta_L = w * s_L,   e_{l-1} = delta_l W_l,   delta_{l-1} = e_{l-1} * s_{l-1},   g = e_0.

Training an HNN differentiates a loss on ``g`` with respect to the weights: a reverse pass over
that forward-and-backward computation. Autograd does it op by op, recording, keeping and
replaying every product, ``1 - a^2`` and broadcast. Here it is one node. Per hidden layer of
width ``n`` the step costs the two ``(batch, n) x (n, n)`` products of ``g`` and four in the
backward (``d_bar_l``, both terms of ``dW_l``, and ``z_bar_l W_{l+1}``) -- twice the three of a
plain MLP step, which is the floor for an exact Hessian-vector product. Everything else is
elementwise and done in place where the buffer is the node's own; ``tanh`` is evaluated once
per layer. The node holds its ``(batch, width)`` quantities transposed, so that the wide
products read contiguous operands, and the skinny ones (with ``W_1``) use the layouts MKL is
fast at; the products and ``tanh`` are :mod:`hamnets._kernels`'.

Higher derivatives stay exact: when the backward itself is recorded (``create_graph=True``,
``gradgradcheck``, a Hessian of the field) it recomputes ``g`` from ordinary differentiable
operations and differentiates those; under ``torch.func`` transforms (``vmap``, ``jacrev``),
which need rules the node does not have, the field is computed from those operations directly.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .._kernels import addmm_, linear, matmul, tanh_


def _composite(
    x: torch.Tensor, out_weight: torch.Tensor, weights: Sequence[torch.Tensor], biases
) -> torch.Tensor:
    """The same ``g`` from differentiable operations (for higher derivatives)."""
    acts = []
    a = x
    for w, b in zip(weights, biases, strict=True):
        a = torch.tanh(a @ w.T + b)  # (batch, width)
        acts.append(a)
    e = out_weight  # (1, width_L), broadcast over the batch
    for w, a in zip(reversed(weights), reversed(acts), strict=True):
        e = (e * (1 - a * a)) @ w  # (batch, width_prev)
    return e


def _no_grad_input_gradient(
    x: torch.Tensor, out_weight: torch.Tensor, weights: Sequence[torch.Tensor], biases
) -> torch.Tensor:
    """``g`` when nothing is recorded (rollouts): intermediates are overwritten in place."""
    acts = []
    a = x
    for w, b in zip(weights, biases, strict=True):
        a = tanh_(linear(a, w, b))  # (batch, width)
        acts.append(a)
    delta = acts[-1]
    delta.mul_(delta).neg_().add_(1.0).mul_(out_weight)  # w * (1 - a_L^2)
    for layer in range(len(weights) - 1, 0, -1):
        a = acts[layer - 1]
        e = matmul(delta, weights[layer])  # (batch, width_{l-1})
        delta = a.mul_(a).neg_().add_(1.0).mul_(e)  # e * (1 - a^2), in a's buffer
    return matmul(delta, weights[0].t().contiguous().t())  # (batch, dim)


class _TanhMLPInputGradient(torch.autograd.Function):
    """``(x, w, W_1, b_1, ..., W_L, b_L) -> grad_x H`` ``(batch, dim)``; see the module text.

    Inside, every ``(batch, width)`` quantity is held transposed, ``(width, batch)``
    (``aT``, ``sT``, ...): the weight gradients contract over the batch, and a product
    ``(width, batch) x (batch, width)`` then reads both operands in the layout oneDNN wants
    (row-major ``(batch, width)`` operands would be copied transposed first, ~0.1 ms each).

    Saved: ``x``, the weights, contiguous ``W_l^T`` for ``l > 1``, ``a_l`` and ``s_l`` for
    every layer and ``delta_l`` for ``l < L`` (each ``e_l`` becomes ``delta_l`` in place);
    ``delta_L = w * s_L`` is never formed (``e_{L-1} = s_L (diag(w) W_L)``). Saved tensors are
    never modified in the backward, so a retained graph can be differentiated twice; the
    backward works in place on the buffers its own products return. Products and ``tanh``
    are :mod:`hamnets._kernels`' (oneDNN for the wide float32 products, numpy's
    ``tanh``).
    """

    @staticmethod
    def forward(ctx, x, out_weight, *params):  # noqa: D102 (documented on the class)
        weights, biases = params[0::2], params[1::2]
        n = len(weights)
        one = torch.ones((), dtype=x.dtype, device=x.device)
        w_t = [None] + [w.t().contiguous() for w in weights[1:]]  # W_l^T (w_{l-1}, w_l)
        acts, slopes = [], []  # a_l^T, s_l^T: (width_l, batch)
        a = x.t()  # (dim, batch)
        for w, b in zip(weights, biases, strict=True):
            a = tanh_(matmul(w, a).add_(b[:, None]))  # z_l^T = W_l a_{l-1}^T + b_l
            acts.append(a)
            slopes.append(torch.addcmul(one, a, a, value=-1))  # s = 1 - a^2
        scaled = (w_t[-1] if n > 1 else weights[-1].t()) * out_weight  # W_L^T diag(w)
        deltas = []
        e = matmul(scaled, slopes[-1])  # e_{L-1}^T = (delta_L W_L)^T, (width_{L-1}, batch)
        for layer in range(n - 2, -1, -1):  # 0-based: entry k is layer k + 1
            delta = e.mul_(slopes[layer])  # delta_l = e_l * s_l, in e's buffer
            deltas.insert(0, delta)
            e = matmul(w_t[layer] if layer else weights[0].t(), delta)  # e_{l-1}^T
        ctx.save_for_backward(x, *params, *w_t[1:], *acts, *slopes, *deltas, out_weight)
        ctx.n_layers = n
        return e.t().contiguous()  # e_0 = grad_x H, (batch, dim)

    @staticmethod
    def backward(ctx, grad_g):  # noqa: D102
        n = ctx.n_layers
        x, *saved = ctx.saved_tensors
        params, saved = saved[: 2 * n], saved[2 * n :]
        weights, biases = params[0::2], params[1::2]
        w_t, saved = [None, *saved[: n - 1]], saved[n - 1 :]
        acts, slopes = saved[:n], saved[n : 2 * n]
        deltas, out_weight = saved[2 * n : 3 * n - 1], saved[-1]
        needs = ctx.needs_input_grad
        if torch.is_grad_enabled():  # create_graph=True: differentiate a recorded recomputation
            inputs = [x, out_weight, *params]
            wanted = [t for t, need in zip(inputs, needs, strict=True) if need]
            with torch.enable_grad():
                g = _composite(x, out_weight, weights, biases)
                grads = iter(torch.autograd.grad(g, wanted, grad_g, create_graph=True))
            return tuple(next(grads) if need else None for need in needs)

        # Up the gradient chain (e_{l-1} = delta_l W_l, delta_l = e_l * s_l), layer 1 to L:
        # d_bar_l = dLoss/ddelta_l = e_bar_{l-1} W_l^T, e_bar_l = d_bar_l * s_l. The path
        # through s_l = 1 - a_l^2 gives dLoss/dz_l the term u_l = -2 a_l d_bar_l delta_l.
        w_col = out_weight.t()  # w as a column (width_L, 1)
        g_rows = grad_g.t().contiguous()  # dLoss/de_0 transposed, (dim, batch)
        e_bar = g_rows
        grad_w: list[torch.Tensor] = []  # entry 0 transposed, (dim, width_1)
        u: list[torch.Tensor | None] = [None] * n
        for layer in range(n):
            last = layer == n - 1
            if layer == 0:  # e_bar^T delta_1, transposed: (dim, batch) x (batch, width_1)
                delta1 = slopes[0] * w_col if last else deltas[0]
                part = matmul(g_rows, delta1.t())  # (dim, width_1)
            elif last:  # delta_L^T e_bar = diag(w) s_L^T e_bar
                part = matmul(slopes[-1], e_bar.t()).mul_(w_col)
            else:
                part = matmul(deltas[layer], e_bar.t())
            grad_w.append(part)
            d_bar = matmul(weights[layer], e_bar)  # d_bar_l^T, (width_l, batch)
            if not last:
                u[layer] = torch.mul(d_bar, deltas[layer])  # u_l / (-2 a_l), finished below
                if layer > 0:
                    u[layer].mul_(acts[layer]).mul_(-2.0)
                e_bar = d_bar.mul_(slopes[layer])
        d_bar.mul_(slopes[-1])
        grad_out_weight = d_bar.sum(1)[None]  # sum_b d_bar_L * s_L, (1, width_L)
        z_bar = d_bar.mul_(acts[-1]).mul_(-2.0 * w_col)  # u_L = dLoss/dz_L
        # Down the forward pass (a_l = tanh z_l, z_l = a_{l-1} W_l^T + b_l), layer L to 1:
        # z_bar_l = (z_bar_{l+1} W_{l+1}) * s_l + u_l.
        grad_b = [z_bar.sum(1)]
        for layer in range(n - 1, 0, -1):
            addmm_(grad_w[layer], z_bar, acts[layer - 1].t())
            below = matmul(w_t[layer], z_bar)  # (W_l^T z_bar_l^T), (width_{l-1}, batch)
            below.mul_(slopes[layer - 1])
            if layer - 1 == 0:  # u_1 = -2 a_1 d_bar_1 delta_1, its last factor here
                below.addcmul_(u[0], acts[0], value=-2.0)
            else:
                below.add_(u[layer - 1])
            z_bar = below
            grad_b.insert(0, z_bar.sum(1))
        x_rows = x.t().contiguous()  # (dim, batch)
        grad_w[0] = addmm_(grad_w[0], x_rows, z_bar.t()).t()  # (width_1, dim)
        grad_x = matmul(weights[0].t(), z_bar).t() if needs[0] else None  # (batch, dim)
        grads = [grad_x, grad_out_weight]
        for w, b in zip(grad_w, grad_b, strict=True):
            grads += [w, b]
        return tuple(gr if need else None for gr, need in zip(grads, needs, strict=True))


def tanh_mlp_input_gradient(
    x: torch.Tensor,
    weights: Sequence[torch.Tensor],
    biases: Sequence[torch.Tensor],
    out_weight: torch.Tensor,
) -> torch.Tensor:
    """``grad_x H(x)`` ``(batch, dim)`` of ``H(x) = out_weight . a_L (+ const)``, ``a_l =
    tanh(a_{l-1} W_l^T + b_l)``, ``a_0 = x``, as one autograd node (exact; see the module text).

    Args:
        x: states ``(batch, dim)``.
        weights: ``W_l`` of shapes ``(width_l, width_{l-1})``, ``width_0 = dim``.
        biases: ``b_l`` of shapes ``(width_l,)``.
        out_weight: the output layer's weight ``(1, width_L)``.
    """
    if len(weights) != len(biases) or not weights:
        raise ValueError(
            f"need one bias per weight and at least one layer, got {len(weights)} weights "
            f"and {len(biases)} biases."
        )
    if _functorch_active():  # vmap / jacrev / jvp: the node has no rules for them
        return _composite(x, out_weight, weights, biases)
    params = [t for pair in zip(weights, biases, strict=True) for t in pair]
    if not (torch.is_grad_enabled() and any(t.requires_grad for t in (x, out_weight, *params))):
        return _no_grad_input_gradient(x, out_weight, weights, biases)
    return _TanhMLPInputGradient.apply(x, out_weight, *params)


def _functorch_active() -> bool:
    # The check autograd.Function.apply itself makes before refusing a node without
    # functorch rules; private, hence the guard.
    active = getattr(torch._C, "_are_functorch_transforms_active", None)
    return bool(active()) if active is not None else False
