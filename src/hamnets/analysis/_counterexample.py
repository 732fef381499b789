"""The exploding-gradient counterexample of Galimberti et al. (arXiv:2105.13205, App. III).

The ODE ``y' = epsilon J tanh(y)``, ``y in R^2``, ``J = [[0, -1], [1, 0]]`` is Hamiltonian
(``H(y) = epsilon (log cosh y1 + log cosh y2)``), its solutions are closed orbits, and it is
integrated with symplectic Euler **component by component**: with ``c = h epsilon``,

    y1 <- y1 - c tanh(y2)
    y2 <- y2 + c tanh(y1)        (with the new y1)

Each step is symplectic (det = 1), yet the backward sensitivity ``dy(T)/dy(T - t)`` grows
with ``t``: orbits of different energy have different periods, so a perturbation shears
along the orbit. The growth depends on ``epsilon T`` only (time can be rescaled), so a slowly
varying state (small ``epsilon``) does not prevent exploding gradients.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch

from ._sensitivity import accumulate_backward

__all__ = [
    "COUNTEREXAMPLE_Y0",
    "CounterexampleConfig",
    "CounterexampleResult",
    "counterexample",
    "counterexample_jacobians",
    "counterexample_trajectory",
    "finite_difference_bsm",
]

#: The paper's initial state before normalisation (normalised to unit length by default).
COUNTEREXAMPLE_Y0 = (0.33627683, -0.48627683)


def _unit(y: tuple[float, float]) -> tuple[float, float]:
    r = math.hypot(*y)
    return (y[0] / r, y[1] / r)


#: the most steps of one counterexample trajectory (T / h)
MAX_STEPS = 10_000_000
#: the largest |y0| component (tanh(y) = sign(y) long before it)
MAX_Y0 = 1e6


@dataclass(frozen=True)
class CounterexampleConfig:
    """One run of the counterexample.

    Attributes:
        epsilon: speed of the flow, ``> 0``.
        h: step size, ``> 0``; ``T / h`` must be a whole number ``N`` of steps.
        t_end: final time ``T > 0``.
        gamma: size of the finite-difference perturbation, ``> 0``.
        y0: initial state ``(y1, y2)``, not both zero.
        normalize: scale ``y0`` to unit length (as the paper does).
    """

    epsilon: float = 1.0
    h: float = 0.05
    t_end: float = 20.0
    gamma: float = 0.05
    y0: tuple[float, float] = COUNTEREXAMPLE_Y0
    normalize: bool = True
    n_steps: int = field(init=False)

    def __post_init__(self) -> None:
        for name in ("epsilon", "h", "t_end", "gamma"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise ValueError(f"{name} must be a finite number > 0, got {value!r}.")
        y0 = tuple(float(v) for v in self.y0)
        if len(y0) != 2 or not all(math.isfinite(v) for v in y0):
            raise ValueError(f"y0 must be two finite numbers, got {self.y0!r}.")
        if max(abs(v) for v in y0) > MAX_Y0:
            raise ValueError(
                f"y0 = {y0} is beyond +-{MAX_Y0:g}: tanh is saturated there and the flow moves "
                f"by at most epsilon T per coordinate, nothing to see; pass a smaller y0."
            )
        if self.normalize:
            if y0 == (0.0, 0.0):
                raise ValueError("y0 = (0, 0) cannot be normalised; pass a non-zero y0.")
            y0 = _unit(y0)
        ratio = self.t_end / self.h
        if not ratio <= MAX_STEPS:
            raise ValueError(
                f"T / h = {ratio:.3g} steps, more than {MAX_STEPS} (every step is stored with "
                f"its 2x2 sensitivity); raise h or lower T."
            )
        n_steps = round(ratio)
        if n_steps < 1 or abs(ratio - n_steps) > 1e-9 * max(1.0, ratio):
            raise ValueError(
                f"T / h must be a whole number of steps, got T={self.t_end!r}, h={self.h!r} "
                f"(T / h = {ratio:.6g}); e.g. pass h={self.t_end / max(1, n_steps):.6g}."
            )
        object.__setattr__(self, "y0", y0)
        object.__setattr__(self, "n_steps", n_steps)

    def to_dict(self) -> dict:
        return asdict(self)


def counterexample_trajectory(
    y0: torch.Tensor, n_steps: int, epsilon: float, h: float
) -> torch.Tensor:
    """Symplectic Euler, component by component, for ``y' = epsilon J tanh(y)``.

    Args:
        y0: initial states of shape ``(..., 2)`` (any batch shape).
        n_steps: number of steps ``N >= 0``.
        epsilon, h: flow speed and step size.

    Returns:
        States ``y_0 .. y_N`` of shape ``(N+1, ..., 2)``.
    """
    c = h * epsilon
    y1, y2 = y0[..., 0], y0[..., 1]
    states = [y0]
    for _ in range(n_steps):
        y1 = y1 - c * torch.tanh(y2)
        y2 = y2 + c * torch.tanh(y1)
        states.append(torch.stack([y1, y2], dim=-1))
    return torch.stack(states)  # (N+1, ..., 2)


def counterexample_jacobians(states: torch.Tensor, epsilon: float, h: float) -> torch.Tensor:
    """Exact Jacobian of every step, from the states the steps start at.

    Step ``k`` is two shears: ``A_k = [[1, -c sech^2(y2_k)], [0, 1]]`` then
    ``B_k = [[1, 0], [c sech^2(y1_{k+1}), 1]]``, so ``J_k = B_k A_k`` (det 1).

    Args:
        states: ``(N+1, 2)`` from :func:`counterexample_trajectory`.

    Returns:
        ``(N, 2, 2)`` in numerator layout, ``J_k[a, b] = d y_{k+1}[a] / d y_k[b]``.
    """
    c = h * epsilon
    a = -c / torch.cosh(states[:-1, 1]).pow(2)  # (N,): d y1_new / d y2
    b = c / torch.cosh(states[1:, 0]).pow(2)  # (N,): d y2_new / d y1_new
    one = torch.ones_like(a)
    # B A = [[1, a], [b, 1 + b a]]
    return torch.stack([torch.stack([one, a], -1), torch.stack([b, 1 + b * a], -1)], -2)


def finite_difference_bsm(
    states: torch.Tensor, epsilon: float, h: float, gamma: float
) -> torch.Tensor:
    """The paper's estimate of ``dy_N/dy_k``: perturb ``y_k`` by ``gamma e_i``, run to ``N``.

    All ``2 (N+1)`` perturbed runs advance together (one batched step per time step), so the
    cost is ``N`` steps of a batch, not ``N^2`` single steps.

    Args:
        states: nominal states ``(N+1, 2)``.

    Returns:
        ``(N+1, 2, 2)``: index ``k`` holds ``(y_gamma,N - y_N) / gamma`` with column ``i``
        for the perturbation ``gamma e_i`` of ``y_k`` (numerator layout).
    """
    n_steps = states.shape[0] - 1
    c = h * epsilon
    kick = gamma * torch.eye(2, dtype=states.dtype, device=states.device)  # (i, 2)
    runs = states.unsqueeze(1) + kick  # (N+1, i, 2): run k starts at y_k + gamma e_i
    for k in range(n_steps):
        live = runs[: k + 1]  # (k+1, i, 2): the runs started at steps 0..k are in flight
        live[..., 0] -= c * torch.tanh(live[..., 1])  # in place, y1 first
        live[..., 1] += c * torch.tanh(live[..., 0])  # then y2 with the new y1
    diff = (runs - states[-1]) / gamma  # (N+1, i, 2)
    return diff.transpose(-1, -2)  # (N+1, 2, i): column i <- perturbation e_i


@dataclass(frozen=True)
class CounterexampleResult:
    """Everything the counterexample computes; index ``k`` of ``t`` is ``t = k h``.

    Attributes:
        config: the run.
        t: ``(N+1,)`` lags ``t = 0, h, .., T``.
        states: ``(N+1, 2)`` nominal trajectory ``y(0) .. y(T)``.
        bsm: ``(N+1, 2, 2)`` exact ``dy(T)/dy(T - t)`` (numerator layout); ``bsm[0] = I``.
        bsm_fd: ``(N+1, 2, 2)`` its finite-difference estimate with perturbation ``gamma``
            (None when not asked for).
    """

    config: CounterexampleConfig
    t: torch.Tensor
    states: torch.Tensor
    bsm: torch.Tensor
    bsm_fd: torch.Tensor | None

    def perturbed(self, lag_index: int, direction: torch.Tensor) -> torch.Tensor:
        """The run with ``y(T - t) + gamma direction``, ``t = t[lag_index]``.

        Returns:
            States from ``T - t`` to ``T``, shape ``(lag_index + 1, 2)``.
        """
        n = self.config.n_steps
        if not 0 <= lag_index <= n:
            raise ValueError(f"lag_index must be in 0..{n}, got {lag_index}.")
        start = self.states[n - lag_index] + self.config.gamma * direction
        return counterexample_trajectory(start, lag_index, self.config.epsilon, self.config.h)

    def metrics(self) -> dict:
        """``bsm`` = dy(T)/dy(0) (2x2 nested list), its determinant and spectral norm."""
        final = self.bsm[-1]
        out = {
            "bsm": final.tolist(),
            "determinant": float(torch.linalg.det(final)),
            "spectral_norm": float(torch.linalg.matrix_norm(final, ord=2)),
            "layout": "numerator: bsm[a][b] = d y_a(T) / d y_b(0)",
            "n_steps": self.config.n_steps,
            "config": self.config.to_dict(),
        }
        if self.bsm_fd is not None:
            out["bsm_finite_difference"] = self.bsm_fd[-1].tolist()
            out["max_abs_difference_exact_vs_fd"] = float((self.bsm - self.bsm_fd).abs().max())
        return out


def counterexample(
    config: CounterexampleConfig | None = None,
    *,
    finite_difference: bool = True,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> CounterexampleResult:
    """Run the counterexample: trajectory, exact BSMs (one backward sweep), FD estimate.

    Args:
        config: the run (defaults: the paper's ``epsilon=1, h=0.05, T=20, gamma=0.05``).
        finite_difference: also compute the finite-difference estimate (O(N^2) work, batched).
        dtype, device: where to compute (float64 by default).

    Returns:
        A :class:`CounterexampleResult`; ``result.bsm[-1]`` is ``dy(T)/dy(0)``.
    """
    config = CounterexampleConfig() if config is None else config
    y0 = torch.tensor(config.y0, dtype=dtype, device=device)
    states = counterexample_trajectory(y0, config.n_steps, config.epsilon, config.h)
    jac = counterexample_jacobians(states, config.epsilon, config.h)  # (N, 2, 2)
    m = accumulate_backward(jac)  # (N+1, 2, 2): m[k] = dy_N/dy_k
    fd = None
    if finite_difference:
        fd = finite_difference_bsm(states, config.epsilon, config.h, config.gamma).flip(0)
    t = torch.arange(config.n_steps + 1, dtype=dtype, device=device) * config.h
    # lag t_i = i h  <->  start step N - i
    return CounterexampleResult(config, t, states, m.flip(0), fd)
