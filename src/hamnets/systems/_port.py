"""Ground-truth port-Hamiltonian systems: closed-form ``grad H``, constant ``R`` and ``G``."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from .._port_field import PortHamiltonianField


class PortHamiltonianSystem(PortHamiltonianField):
    """A known port-Hamiltonian system with damping on the momenta only:
    ``dx/dt = (J - R) grad H(t, x) + G u(t)``, ``R = diag(0, ..., 0, d_1, ..., d_n)``,
    ``G`` a constant ``(2n, m)``.

    The same interface as the learned :class:`hamnets.hnn.PortHamiltonianNN` (``hamiltonian``,
    ``grad_h``, ``dissipation_matrix``, ``input_matrix``, ``parts``, ``with_input``), so
    metrics compare the two alike; ``grad H`` and ``R grad H`` are in closed form. Subclasses
    provide :meth:`hamiltonian` and :meth:`grad_h`.

    Args:
        n: degrees of freedom (state ``(batch, 2n)``).
        damping: ``d_1..d_n >= 0``, the diagonal of the momentum block of ``R``.
        input_matrix: ``G`` ``(2n, m)``, or ``None`` for no inputs.
        signal: the input ``u(t) -> (batch, m)``.

    Attributes:
        name: the registry name (:data:`hamnets.systems.PORT_SYSTEMS`).
    """

    name: str = ""

    def __init__(
        self,
        n: int,
        damping: Sequence[float],
        input_matrix: Sequence[Sequence[float]] | None = None,
        signal: Callable | None = None,
    ) -> None:
        g = None if input_matrix is None else torch.tensor(input_matrix, dtype=torch.float64)
        inputs = 0 if g is None else g.shape[1]
        super().__init__(2 * n, inputs, signal)
        d = torch.tensor(damping, dtype=torch.float64)
        if d.shape != (n,) or bool((d < 0).any()):
            raise ValueError(f"damping must be n={n} non-negative numbers, got {damping!r}.")
        if g is not None and g.shape != (2 * n, inputs):
            raise ValueError(f"G must have shape ({2 * n}, m), got {tuple(g.shape)}.")
        # float64 buffers, so that .double() keeps the constants exact (0.1 is not a float32);
        # every use casts to the state's dtype
        self.register_buffer("damping", d)
        self.register_buffer("g", torch.zeros(2 * n, 0, dtype=torch.float64) if g is None else g)

    def dissipation_factor(self, x: torch.Tensor) -> torch.Tensor | None:
        """``L = [[0], [diag(sqrt d)]]`` ``(batch, 2n, n)``; ``None`` when undamped."""
        if not bool((self.damping > 0).any()):
            return None
        lower = torch.diag(self.damping.to(x.dtype).sqrt())  # (n, n)
        return torch.cat([torch.zeros_like(lower), lower], 0).expand(x.shape[0], -1, -1)

    def dissipate(self, x: torch.Tensor, v: torch.Tensor) -> torch.Tensor | None:
        """``R v = [0, d * v_p]`` ``(batch, 2n)`` in closed form; ``None`` when undamped."""
        if not bool((self.damping > 0).any()):
            return None
        n = self.dim // 2
        vp = self.damping.to(x.dtype) * v[:, n:]  # (batch, n)
        return torch.cat([torch.zeros_like(vp), vp], dim=1)

    def input_matrix(self, x: torch.Tensor) -> torch.Tensor:
        """``G`` broadcast to ``(batch, 2n, m)``."""
        return self.g.to(x.dtype).expand(x.shape[0], -1, -1)
