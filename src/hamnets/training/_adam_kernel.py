"""``_adam.c``, the C update of :class:`~hamnets.training._adam.FusedAdam`: built once per
machine, loaded, and called for one param group at a time.

The C file computes bit for bit what ``torch._fused_adam_`` computes on a CPU whose torch
kernel is the AVX-512 or the AVX2 one (``tests/test_adam.py`` compares the two bit for bit:
parameters, moments and step counters, 1 and 2 threads, both instruction sets). Elsewhere
(another CPU capability, no C compiler, float64, CUDA) :meth:`CGroup.build` returns None and
the optimiser calls torch's kernel.

What it saves is the per-step work around the kernel: torch's ``_foreach_add_`` on the step
counters and ``_fused_adam_``'s dispatch on each tensor cost more than the arithmetic on the
spring experiment's 200-200 MLPs. A :class:`CGroup` holds the group's pointers; each step it
checks that the parameters and their state are the ones it was built for and that every
gradient is a dense contiguous float32 CPU tensor of its parameter's size, then makes one
call.
"""

from __future__ import annotations

import ctypes
import functools
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from .. import _cbuild

__all__ = ["CGroup", "kernel"]

_SOURCE = Path(__file__).with_name("_adam.c")
_INCLUDE = (Path(__file__).parent.parent / "hdnn",)  # _blocks.h: CLONES
#: torch's CPU capabilities whose Adam kernel ``_adam.c`` reproduces (measured bit for bit)
_CAPABILITIES = ("AVX512", "AVX2")


@functools.cache
def kernel() -> ctypes.CDLL | None:
    """``_adam.c`` loaded, or None where torch's kernel is not one it reproduces or nothing
    can be built."""
    capability = getattr(torch.backends.cpu, "get_cpu_capability", None)
    if capability is None or capability() not in _CAPABILITIES or not _cbuild.posix():
        return None
    try:
        lib = _cbuild.load(_SOURCE, include=_INCLUDE)
    except (OSError, subprocess.SubprocessError):
        return None
    lib.adam_step.argtypes = [ctypes.c_int, *[ctypes.c_void_p] * 6, *[ctypes.c_double] * 5]
    lib.adam_step.restype = None
    return lib


def _pointers(tensors: Sequence[torch.Tensor]) -> ctypes.Array:
    return (ctypes.c_void_p * len(tensors))(*[t.data_ptr() for t in tensors])


def _plain(t: torch.Tensor) -> bool:
    """A dense contiguous float32 tensor on the CPU."""
    return (
        t.dtype is torch.float32
        and t.layout is torch.strided
        and t.device.type == "cpu"
        and t.is_contiguous()
    )


class CGroup:
    """One param group's tensors as ``_adam.c`` reads them: built at a step where every
    parameter of the group has a gradient, reused while the group and its state stay the
    same (the optimiser drops it when its state is replaced)."""

    def __init__(
        self,
        lib: ctypes.CDLL,
        params: list[torch.Tensor],
        state: Sequence[Mapping[str, torch.Tensor]],
    ) -> None:
        self.lib, self.params, self.count = lib, params, len(params)
        self.numel = [p.numel() for p in params]
        self.addresses = [p.data_ptr() for p in params]
        # the state's tensors, held (the pointers below stay valid) and checked at each step
        # (a state entry replaced would otherwise go on being updated in the old tensor)
        self.tensors = [(st["exp_avg"], st["exp_avg_sq"], st["step"]) for st in state]
        self.param_ptrs = _pointers(params)
        self.moment_ptrs = _pointers([m for m, _, _ in self.tensors])
        self.square_ptrs = _pointers([v for _, v, _ in self.tensors])
        self.step_ptrs = _pointers([t for _, _, t in self.tensors])
        self.numel_arr = (ctypes.c_int64 * self.count)(*self.numel)
        self.grad_ptrs = (ctypes.c_void_p * self.count)()

    @classmethod
    def build(
        cls, params: list[torch.Tensor], state: Sequence[Mapping[str, torch.Tensor]]
    ) -> CGroup | None:
        """The group of ``params`` (every one with a gradient) and their Adam state, or None
        where the C update does not apply."""
        lib = kernel()
        if lib is None:
            return None
        for p, st in zip(params, state, strict=True):
            moments = (st["exp_avg"], st["exp_avg_sq"])
            if not (_plain(p) and all(_plain(m) and m.shape == p.shape for m in moments)):
                return None
            step = st["step"]
            if not (_plain(step) and step.numel() == 1):
                return None
        return cls(lib, params, state)

    def step(self, group: Mapping[str, Any], state: Mapping[torch.Tensor, Mapping]) -> bool:
        """One Adam step of the group with its current settings (``state``: the optimiser's,
        by parameter); False, with nothing done, where the group's parameters or their state
        are not those it was built for, or a gradient is missing or not plain (then the
        caller takes torch's kernel)."""
        params = group["params"]
        if len(params) != self.count:
            return False
        grads = []
        for p, q, address, n in zip(params, self.params, self.addresses, self.numel, strict=True):
            g = p.grad
            if p is not q or p.data_ptr() != address or g is None or not _plain(g):
                return False
            if g.numel() != n:
                return False
            grads.append(g.data_ptr())
        for p, (m, v, t) in zip(params, self.tensors, strict=True):
            st = state.get(p)
            if st is None or st["exp_avg"] is not m or st["exp_avg_sq"] is not v:
                return False
            if st["step"] is not t:
                return False
        self.grad_ptrs[:] = grads
        beta1, beta2 = group["betas"]
        self.lib.adam_step(
            self.count, self.param_ptrs, self.grad_ptrs, self.moment_ptrs, self.square_ptrs,
            self.step_ptrs, self.numel_arr, float(group["lr"]), float(beta1), float(beta2),
            float(group["weight_decay"]), float(group["eps"]),
        )  # fmt: skip
        return True


def main() -> int:
    """Build ``_adam.c``, or say why not (``make install`` calls it): 0 built, 1 not."""
    return _cbuild.install(_SOURCE, "the Adam kernel", "torch's runs", _INCLUDE)
