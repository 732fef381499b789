"""Shared checks of port-Hamiltonian fields (learned and exact)."""

import torch

from hamnets.integrate import Tsit5, odeint

F64 = torch.float64


def energy_balance_residual(port, signal, x0, t, tol):
    """Integrate ``x`` with ``E' = -grad H^T R grad H + y^T u (+ partial_t H)`` beside it;
    return ``H(x(t)) - H(x0) - E(t)`` ``(T, batch)`` and the two energies."""
    n = x0.shape[1]

    def augmented(t, z):
        x = z[:, :n]
        parts = port.parts(t, x, signal(t) if port.inputs else None)
        diss, supply = parts.dissipated_power, parts.supplied_power
        explicit = port.dh_dt_explicit(t, x)
        return torch.cat([parts.dxdt, torch.stack([diss, supply, explicit], 1)], 1)

    z0 = torch.cat([x0, torch.zeros(len(x0), 3, dtype=F64)], 1)
    with torch.no_grad():
        zs = odeint(augmented, z0, t, Tsit5(rtol=tol, atol=tol))  # (T, batch, n + 3)
        h = torch.stack([port.hamiltonian(s, z[:, :n]) for s, z in zip(t, zs, strict=True)])
    dissipated, supplied, explicit = zs[..., n], zs[..., n + 1], zs[..., n + 2]
    return h - h[0] + dissipated - supplied - explicit, dissipated, supplied
