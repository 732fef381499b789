"""Dense output: the continuous extensions of Tsit5 and Dopri5, and the cubic Hermite one.

An explicit Runge-Kutta step from ``x`` at ``t`` with stages ``k_i`` has the continuous
extension ``x(t + theta h) = x + h sum_i b_i(theta) k_i``, ``0 <= theta <= 1``, with
polynomials ``b_i`` of degree 4 such that ``b_i(1)`` are the step's weights. Each table below
is a ``(stages, 5)`` matrix of the coefficients of ``theta^0 .. theta^4``. Both extensions are
of order 4 (local error ``O(h^5)``), one order below the step, and cost no extra evaluation.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

Poly = list[float]  # coefficients of theta^0, theta^1, ...


def _mul(*polys: Poly) -> Poly:
    out = [1.0]
    for p in polys:
        res = [0.0] * (len(out) + len(p) - 1)
        for i, a in enumerate(out):
            for j, b in enumerate(p):
                res[i + j] += a * b
        out = res
    return out


def _pad(p: Poly, n: int = 5) -> Poly:
    return list(p) + [0.0] * (n - len(p))


def _tsit5_table() -> list[Poly]:
    """Tsitouras (2011), "Runge-Kutta pairs of order 5(4) satisfying only the first column
    simplifying assumption", Comput. Math. Appl. 62, the interpolant ``b_i(theta)`` of its
    Table/section 3, in the factored form the paper prints (the same numbers appear in
    OrdinaryDiffEq.jl and diffrax)."""
    th, th2 = [0.0, 1.0], [0.0, 0.0, 1.0]

    def lin(r: float) -> Poly:  # theta - r
        return [-r, 1.0]

    def quad(b: float, c: float) -> Poly:  # theta^2 - b theta + c
        return [c, -b, 1.0]

    rows = [
        _mul([-1.0530884977290216], th, lin(1.3299890189751412),
             quad(1.4364028541716351, 0.7139816917074209)),
        _mul([0.1017], th2, quad(2.1966568338249754, 1.2949852507374631)),
        _mul([2.490627285651252793], th2, quad(2.38535645472061657, 1.57803468208092486)),
        _mul([-16.54810288924490272], lin(1.21712927295533244), lin(0.61620406037800089), th2),
        _mul([47.37952196281928122], lin(1.203071208372362603), lin(0.658047292653547382), th2),
        _mul([-34.87065786149660974], lin(1.2), lin(0.666666666666666667), th2),
        _mul([2.5], lin(1.0), lin(0.6), th2),
    ]  # fmt: skip
    return [_pad(r) for r in rows]


def _dopri5_table(b: Sequence[float]) -> list[Poly]:
    """Dormand-Prince's dense output of order 4 (Shampine 1986; Hairer, Norsett and Wanner,
    "Solving ODEs I", section II.6, the ``d_i`` of their code DOPRI5):
    ``x(t + theta h) = x + theta D + theta(1-theta) r3 + theta^2(1-theta) r4 +
    theta^2 (1-theta)^2 r5`` with ``D = h sum b_i k_i``, ``r3 = h k_1 - D``,
    ``r4 = D - h k_7 - r3`` and ``r5 = h sum d_i k_i``."""
    d = (
        -12715105075 / 11282082432, 0.0, 87487479700 / 32700410799,
        -10690763975 / 1880347072, 701980252875 / 199316789632,
        -1453857185 / 822651844, 69997945 / 29380423,
    )  # fmt: skip
    s = len(b)
    e1 = [1.0 if i == 0 else 0.0 for i in range(s)]
    e7 = [1.0 if i == s - 1 else 0.0 for i in range(s)]
    r3 = [e1[i] - b[i] for i in range(s)]
    r4 = [b[i] - e7[i] - r3[i] for i in range(s)]
    basis = ([0, 1], [0, 1, -1], [0, 0, 1, -1], [0, 0, 1, -2, 1])  # theta, theta(1-theta), ...
    rows = []
    for i in range(s):
        row = [0.0] * 5
        for coef, poly in zip((b[i], r3[i], r4[i], d[i]), basis, strict=True):
            for j, c in enumerate(poly):
                row[j] += coef * c
        rows.append(row)
    return rows


def dense_weights(table: Sequence[Poly], theta: float) -> list[float]:
    """``b_i(theta)`` for every stage."""
    return [sum(c * theta**j for j, c in enumerate(row)) for row in table]


def rk_dense(
    table: Sequence[Poly], x: torch.Tensor, ks: Sequence[torch.Tensor], h: float, theta: float
) -> torch.Tensor:
    """The continuous extension ``x + h sum_i b_i(theta) k_i`` ``(batch, dim)``."""
    out = x
    for w, k in zip(dense_weights(table, theta), ks, strict=True):
        if w != 0.0:
            out = out + (h * w) * k
    return out


def rk_dense_many(
    table: Sequence[Poly],
    x: torch.Tensor,
    ks: Sequence[torch.Tensor],
    h: float,
    thetas: Sequence[float],
) -> list[torch.Tensor]:
    """The continuous extension at several ``thetas`` of one step at once (one product of the
    ``(n, s)`` weights with the stacked stages): a list of ``n`` states ``(batch, dim)``."""
    if len(thetas) == 1:
        return [rk_dense(table, x, ks, h, thetas[0])]
    w = torch.tensor([dense_weights(table, th) for th in thetas], dtype=x.dtype, device=x.device)
    stacked = torch.stack(list(ks))  # (s, batch, dim)
    ys = x + torch.tensordot(h * w, stacked, dims=1)  # (n, batch, dim)
    return list(ys.unbind(0))


def hermite(
    x0: torch.Tensor, f0: torch.Tensor, x1: torch.Tensor, f1: torch.Tensor, h: float, s: float
) -> torch.Tensor:
    """Cubic Hermite interpolant at ``t0 + s h`` (``0 <= s <= 1``) of one step through
    ``(x0, f0)`` and ``(x1, f1)``: order 3 (local error ``O(h^4)``), the dense output hamnets
    used before the methods' own; kept for comparisons."""
    s2, s3 = s * s, s * s * s
    h00 = 2 * s3 - 3 * s2 + 1
    h10 = s3 - 2 * s2 + s
    h01 = -2 * s3 + 3 * s2
    h11 = s3 - s2
    return h00 * x0 + (h10 * h) * f0 + h01 * x1 + (h11 * h) * f1


TSIT5_DENSE = _tsit5_table()
