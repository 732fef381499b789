"""The CPU kernels the tanh nodes spend their time in (the HNN energies, the fused H-DNN
layers): matrix products and ``tanh``.

Both are chosen for speed at float32 rounding, never for a different result:

* ``matmul``/``linear``: on CPU, float32 products of at least ``_ONEDNN_MIN_DIM`` in every
  dimension go through oneDNN (``torch.ops.mkldnn._linear_pointwise``, the kernel torch's
  own CPU compiler calls), elsewhere ``torch.mm``/``torch.addmm``. On the AMD EPYC (AVX-512)
  this project is measured on, MKL's ``sgemm`` reaches about 85 GFLOP/s on one core and
  oneDNN about 185 for a ``(750, 200) x (200, 200)`` product (0.68 against 0.33 ms, timed
  side by side; docs/results.md); both are IEEE float32 (relative error ~3e-7 against
  float64 in ``tests/test_hnn_speed.py``).
  Skinny products (a width of 2) stay on MKL, which is faster there.
  On Intel CPUs MKL takes its own AVX-512 path, and a product ``A B`` with ``B`` a contiguous
  ``(k, n)`` matrix goes to MKL instead (oneDNN would repack ``B`` as its weight at every
  call): on the 2-core Intel Xeon (Sapphire Rapids) of ``docs/results.md``, ``(200, 200) x
  (200, 750)`` takes 0.52-0.69 ms there against 0.59-1.04 ms through oneDNN (warm and
  cold caches), with the same bits for contractions up to 256 (both accumulate in the same
  order; above that they block differently). Products contracting over the batch (both
  operands transposed views) keep oneDNN there too: MKL is no faster and rounds differently.
* ``tanh_``: in place through numpy's ``tanh`` on CPU float32/float64: its SIMD loop is
  about 13x faster than ``torch.tanh`` on the AMD EPYC and within 1.4 ulp of the exact value
  everywhere, small arguments included (``2 sigmoid(2x) - 1``, as fast, returns 0 at
  ``x = 1e-8``). On an Intel Xeon with AVX-512 the order is reversed (``torch.tanh`` 0.20 ms
  against numpy's 0.35 ms on 313600 numbers, ``benchmarks/results/speed_random_xeon.json``);
  neither choice is made per machine yet, since it would change a run's rounding with it.

Neither records anything for autograd: they are called inside the nodes' own forward and
backward, on tensors that do not require gradients. Anything else (CUDA, other dtypes, a
torch without oneDNN) falls back to the plain torch operation.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch

#: oneDNN only when every dimension of the product is at least this (skinny ones: MKL).
_ONEDNN_MIN_DIM = 32

_linear_pointwise = getattr(getattr(torch.ops, "mkldnn", None), "_linear_pointwise", None)


def _onednn(*tensors: torch.Tensor) -> bool:
    return (
        _linear_pointwise is not None
        and torch.backends.mkldnn.enabled
        and torch.backends.mkldnn.is_available()
        and all(t.dtype == torch.float32 and t.device.type == "cpu" for t in tensors)
    )


def cpu_vendor(cpuinfo: str | Path = "/proc/cpuinfo") -> str:
    """The CPU's vendor string (``GenuineIntel``, ``AuthenticAMD``, ...) from ``cpuinfo``, or
    ``""`` where that file is missing or names none (not Linux, not x86)."""
    try:
        with open(cpuinfo, encoding="ascii", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "vendor_id":
                    return value.strip()
                if not line.strip():  # the first processor's block is enough
                    break
    except OSError:
        pass
    return ""


@functools.cache
def _mkl_for_packed_operands() -> bool:
    """Whether ``linear`` sends products whose weight oneDNN would repack to MKL (Intel)."""
    return cpu_vendor() == "GenuineIntel" and torch.backends.mkl.is_available()


def linear(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None = None) -> torch.Tensor:
    """``x w^T + b``: ``x`` ``(m, k)``, ``w`` ``(n, k)``, ``b`` ``(n,)`` or None -> ``(m, n)``."""
    (m, k), n = x.shape, w.shape[0]
    if min(m, k, n) >= _ONEDNN_MIN_DIM and _onednn(x, w):
        # w a transposed view of a contiguous (k, n): oneDNN repacks it, MKL reads it as is
        if not (_mkl_for_packed_operands() and w.t().is_contiguous() and x.is_contiguous()):
            return _linear_pointwise(x, w, b, "none", [], "")
    out = torch.mm(x, w.t())
    return out if b is None else out.add_(b)


def matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a b``: ``a`` ``(m, k)``, ``b`` ``(k, n)`` -> ``(m, n)`` (transposed views welcome)."""
    return linear(a, b.t())


def addmm_(c: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``c <- c + a b`` in place; returns ``c``."""
    (m, k), n = a.shape, b.shape[1]
    if min(m, k, n) >= _ONEDNN_MIN_DIM and _onednn(a, b):
        return c.add_(_linear_pointwise(a, b.t(), None, "none", [], ""))
    return c.addmm_(a, b)


def tanh_(t: torch.Tensor) -> torch.Tensor:
    """``t <- tanh(t)`` in place; returns ``t``."""
    if (
        t.device.type == "cpu"
        and t.dtype in (torch.float32, torch.float64)
        and not t.requires_grad
        and t.numel()
    ):
        buf = t.numpy()
        np.tanh(buf, out=buf)
        return t
    return t.tanh_()
