"""The phase-space convention of hamnets, stated once.

Every Hamiltonian flow in this library has the form ``y' = J grad H(y, t)`` with a constant
skew-symmetric interconnection matrix ``J``.

Conventions
-----------
* States are **row vectors**: a batch of states has shape ``(batch, nf)``. The papers write
  column vectors; a column-vector formula ``y <- y + h J K tanh(K^T y + b)`` therefore reads
  ``y <- y + h tanh(y @ K + b) @ (J K)^T`` in code.
* **HNNs** (Greydanus et al.) order the state as ``x = [q, p]`` and use the canonical matrix
  ``J = [[0, I], [-I, 0]]``, so that ``dq/dt = dH/dp`` and ``dp/dt = -dH/dq``
  (:func:`canonical_j`).
* **H-DNNs** (Galimberti et al.) order the split state as ``y = [p; q]`` (first half ``p``).
  Their ``J1 = [[0, -I], [I, 0]]`` is the same canonical structure read in that order
  (``p' = -dH/dq``, ``q' = dH/dp``), see :func:`j1`. ``J2`` (:func:`j2`) has zeros on the
  diagonal, ``+1`` above it and ``-1`` below it.
* **Weights are stored transposed** with respect to the papers' notation: the papers write the
  H-DNN field as ``y' = J K^T tanh(K y + b)``; hamnets stores ``K`` so that the field reads
  ``y' = J K tanh(K^T y + b)`` (column vectors), i.e. ``tanh(y @ K + b) @ (J K)^T`` (rows).
  The two are the same family of models; only the name of the matrix differs by a transpose.
"""

from __future__ import annotations

import torch

__all__ = ["canonical_j", "j1", "j2", "make_j", "J_NAMES"]

J_NAMES = ("J1", "J2")


def _check_even(nf: int, what: str) -> int:
    if not isinstance(nf, int) or nf < 2 or nf % 2:
        raise ValueError(
            f"{what} needs an even number of features nf >= 2 (it splits the state in two "
            f"halves), got nf={nf!r}; pass an even nf such as {max(2, int(nf) + 1) // 2 * 2}."
        )
    return nf // 2


def canonical_j(dim: int, *, dtype: torch.dtype | None = None) -> torch.Tensor:
    """The canonical symplectic matrix for states ordered ``x = [q, p]``.

    Args:
        dim: state dimension ``2n`` (even).

    Returns:
        ``J = [[0, I], [-I, 0]]`` of shape ``(dim, dim)``.
    """
    n = _check_even(dim, "canonical_j")
    eye = torch.eye(n, dtype=dtype)
    zero = torch.zeros(n, n, dtype=dtype)
    return torch.cat([torch.cat([zero, eye], 1), torch.cat([-eye, zero], 1)], 0)


def j1(nf: int, *, dtype: torch.dtype | None = None) -> torch.Tensor:
    """``J1 = [[0, -I], [I, 0]]`` (blocks ``n x n``) for H-DNN states ordered ``y = [p; q]``.

    Returns:
        Tensor of shape ``(nf, nf)``; equal to ``-canonical_j(nf)``.
    """
    return -canonical_j(nf, dtype=dtype)


def j2(nf: int, *, dtype: torch.dtype | None = None) -> torch.Tensor:
    """``J2``: 0 on the diagonal, +1 strictly above it, -1 strictly below it.

    Returns:
        Tensor of shape ``(nf, nf)``. Defined for any ``nf >= 1``.
    """
    if not isinstance(nf, int) or nf < 1:
        raise ValueError(f"J2 needs nf >= 1, got nf={nf!r}.")
    ones = torch.ones(nf, nf, dtype=dtype)
    return torch.triu(ones, diagonal=1) - torch.tril(ones, diagonal=-1)


def make_j(name: str, nf: int, *, dtype: torch.dtype | None = None) -> torch.Tensor:
    """Build an H-DNN interconnection matrix by name (``"J1"`` or ``"J2"``)."""
    if name == "J1":
        return j1(nf, dtype=dtype)
    if name == "J2":
        return j2(nf, dtype=dtype)
    raise ValueError(f"unknown J {name!r}; choose one of {', '.join(J_NAMES)}.")
