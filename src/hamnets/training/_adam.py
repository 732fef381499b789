"""Adam on torch's fused kernel, without ``torch.optim.Optimizer``'s per-step machinery.

The update is Adam's (Kingma and Ba, 2015) with L2 weight decay, exactly as
``torch.optim.Adam(fused=True)`` computes it: the step counters are raised by one, then
``torch._fused_adam_`` (the kernel torch's fused Adam calls) updates every parameter, moment
and counter of a group in one call::

    g = grad + wd * theta,   m <- b1 m + (1 - b1) g,   v <- b2 v + (1 - b2) g^2,
    theta <- theta - lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps).

On a CPU where torch's kernel is its AVX-512 or AVX2 one, a group of float32 CPU tensors is
updated by ``_adam.c`` instead (:mod:`hamnets.training._adam_kernel`): one C call that raises
the step counters and updates everything, bit for bit what ``torch._fused_adam_`` computes.
On the spring experiment's HNN (200-200, 41k parameters) a step takes about 0.23 ms against
0.34 ms through torch, one thread, each right after the C training step (which leaves the
moments out of cache). ``use_c = False`` keeps torch's kernel.

Why not ``torch.optim.Adam`` itself: on a small network the optimiser's Python wrapping costs
more than its kernel (about 0.3 ms a step against 0.1 ms for the spring's 200-200 MLPs, one
CPU thread), and building any ``torch.optim`` optimiser imports ``torch._dynamo`` (about a CPU
second per process). The state dictionary is torch's Adam's, key for key, so checkpoints move
between the two in both directions.

:func:`adam` picks this class where torch's own check allows ``fused=True`` (the parameters'
device and dtype), else returns ``torch.optim.Adam`` with its default implementation.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import torch

from ._adam_kernel import CGroup

__all__ = ["FusedAdam", "adam", "fused_adam_supported"]

#: a param group's settings, with torch's Adam's defaults (``params`` aside)
_DEFAULTS: dict[str, Any] = {
    "lr": 1e-3,
    "betas": (0.9, 0.999),
    "eps": 1e-8,
    "weight_decay": 0.0,
    "amsgrad": False,
    "maximize": False,
    "foreach": None,
    "capturable": False,
    "differentiable": False,
    "fused": True,
    "decoupled_weight_decay": False,
}

#: settings of torch's Adam this class does not implement, and the value it requires
_PLAIN = {"amsgrad": False, "maximize": False, "decoupled_weight_decay": False}


def fused_adam_supported(params: Iterable[torch.Tensor]) -> bool:
    """True when this torch has the fused Adam kernel for every one of ``params`` (floating
    point, on a device torch lists for fused optimisers: CPU from torch 2.4)."""
    fused = getattr(torch, "_fused_adam_", None)
    try:  # torch's own list (private; absent or different in some versions)
        from torch.utils._foreach_utils import _get_fused_kernels_supported_devices

        devices = set(_get_fused_kernels_supported_devices())
    except ImportError:
        return False
    return fused is not None and all(
        p.device.type in devices and torch.is_floating_point(p) for p in params
    )


class FusedAdam:
    """Adam on ``torch._fused_adam_``, the same update and state as ``torch.optim.Adam(params,
    fused=True, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)``.

    Args:
        params: tensors, or param groups (dicts with ``params`` and any of ``lr``, ``betas``,
            ``eps``, ``weight_decay`` of their own), as for ``torch.optim``.
        lr, betas, eps, weight_decay: the defaults of every group.

    Attributes:
        param_groups: one dict per group, ``lr`` and the other settings changeable between
            steps (a learning-rate schedule writes ``group["lr"]``).
        state: per parameter, ``step`` (a float32 scalar tensor), ``exp_avg`` and
            ``exp_avg_sq`` (the parameter's shape), made at its first step with a gradient.
        use_c: whether float32 CPU groups may go through ``_adam.c`` (default True; the
            same bits either way).
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor] | Iterable[Mapping[str, Any]],
        *,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        if not lr >= 0.0 or not eps >= 0.0 or not weight_decay >= 0.0:
            raise ValueError(
                f"Adam needs lr, eps and weight_decay >= 0, got {lr}, {eps}, {weight_decay}."
            )
        if len(betas) != 2 or not all(0.0 <= b < 1.0 for b in betas):
            raise ValueError(f"Adam needs two betas in [0, 1), got {betas!r}.")
        defaults = {**_DEFAULTS, "lr": lr, "betas": tuple(betas), "eps": eps,
                    "weight_decay": weight_decay}  # fmt: skip
        self.param_groups: list[dict[str, Any]] = []
        seen: set[int] = set()
        for group in _groups(params):
            ps = group["params"]
            unknown = set(group) - set(_DEFAULTS) - {"params"}
            if unknown:
                raise ValueError(f"Adam param group with unknown settings {sorted(unknown)}.")
            if any(id(p) in seen for p in ps) or len({id(p) for p in ps}) != len(ps):
                raise ValueError("a parameter appears in more than one Adam param group.")
            seen.update(id(p) for p in ps)
            if not fused_adam_supported(ps):
                raise ValueError(
                    "this torch has no fused Adam kernel for these parameters' device or "
                    "dtype; use hamnets.training._adam.adam(), which falls back to "
                    "torch.optim.Adam."
                )
            self.param_groups.append({**defaults, **group})
        for group in self.param_groups:
            _check_plain(group)
        self.state: dict[torch.Tensor, dict[str, torch.Tensor]] = {}
        self.use_c = True
        self._c_groups: dict[int, CGroup] = {}  # by group index; dropped with the state

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget every gradient (``set_to_none``, the default) or zero them in place."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    p.grad.detach_().zero_()

    @torch.no_grad()
    def step(self) -> None:
        """One Adam step of every parameter that has a gradient."""
        for index, group in enumerate(self.param_groups):
            fast = self._c_groups.get(index) if self.use_c else None
            if fast is not None and fast.step(group, self.state):
                continue
            params, grads, exp_avgs, exp_avg_sqs, steps = [], [], [], [], []
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise RuntimeError("Adam does not support sparse gradients.")
                st = self.state.get(p)
                if st is None:
                    st = self.state[p] = {
                        "step": torch.zeros((), dtype=torch.float32, device=p.device),
                        "exp_avg": torch.zeros_like(p, memory_format=torch.preserve_format),
                        "exp_avg_sq": torch.zeros_like(p, memory_format=torch.preserve_format),
                    }
                params.append(p)
                grads.append(p.grad)
                exp_avgs.append(st["exp_avg"])
                exp_avg_sqs.append(st["exp_avg_sq"])
                steps.append(st["step"])
            if not params:
                continue
            if self.use_c and len(params) == len(group["params"]):
                fast = CGroup.build(params, [self.state[p] for p in params])
                if fast is not None and fast.step(group, self.state):
                    self._c_groups[index] = fast
                    continue
            beta1, beta2 = group["betas"]
            torch._foreach_add_(steps, 1)
            torch._fused_adam_(
                params,
                grads,
                exp_avgs,
                exp_avg_sqs,
                [],
                steps,
                amsgrad=False,
                lr=group["lr"],
                beta1=beta1,
                beta2=beta2,
                weight_decay=group["weight_decay"],
                eps=group["eps"],
                maximize=False,
                grad_scale=None,
                found_inf=None,
            )

    def state_dict(self) -> dict[str, Any]:
        """torch's optimiser state dictionary: ``state`` by parameter index (counted across
        the groups in order) and ``param_groups`` holding those indices. Tensors are the live
        state, not copies (as torch's)."""
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            for p in group["params"]:
                index.setdefault(id(p), len(index))
            saved = {k: v for k, v in group.items() if k != "params"}
            saved["params"] = [index[id(p)] for p in group["params"]]
            groups.append(saved)
        state = {
            index[id(p)]: dict(st)
            for group in self.param_groups
            for p in group["params"]
            if (st := self.state.get(p)) is not None
        }
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Take the state of ``state_dict`` (this class's or ``torch.optim.Adam``'s, fused or
        not): the groups' settings and each parameter's moments and step count, copied to the
        parameter's device and dtype (the count as float32).

        Raises:
            ValueError: the groups differ in number or size, or the state is not plain Adam's
                (AMSGrad, maximize, AdamW's decoupled decay).
        """
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(
                f"the optimizer state has {len(saved_groups)} param groups, this Adam has "
                f"{len(self.param_groups)}."
            )
        params: dict[Any, torch.Tensor] = {}
        for group, saved in zip(self.param_groups, saved_groups, strict=True):
            if len(group["params"]) != len(saved["params"]):
                raise ValueError(
                    f"an optimizer param group holds {len(saved['params'])} parameters, this "
                    f"Adam's {len(group['params'])}."
                )
            _check_plain(saved)
            params.update(zip(saved["params"], group["params"], strict=True))
        state: dict[torch.Tensor, dict[str, torch.Tensor]] = {}
        for key, values in state_dict["state"].items():
            p = params.get(key)
            if p is None:
                raise ValueError(
                    f"the optimizer state names parameter {key!r}, which no group holds."
                )
            step = values["step"]
            step = step if isinstance(step, torch.Tensor) else torch.tensor(float(step))
            state[p] = {
                "step": step.to(dtype=torch.float32, device=p.device, copy=True),
                "exp_avg": values["exp_avg"].to(dtype=p.dtype, device=p.device, copy=True),
                "exp_avg_sq": values["exp_avg_sq"].to(dtype=p.dtype, device=p.device, copy=True),
            }
        for group, saved in zip(self.param_groups, saved_groups, strict=True):
            for key, value in saved.items():
                if key != "params":
                    group[key] = tuple(value) if key == "betas" else value
            group["fused"] = True
        self.state = state
        self._c_groups = {}


def _check_plain(group: Mapping[str, Any]) -> None:
    bad = {k: group[k] for k, v in _PLAIN.items() if group.get(k, v) != v}
    if bad:
        raise ValueError(f"this Adam is plain Adam with L2 weight decay; the state asks for {bad}.")


def _groups(
    params: Iterable[torch.Tensor] | Iterable[Mapping[str, Any]],
) -> list[dict[str, Any]]:
    """``params`` as param groups, each a new dict whose ``params`` is a list."""
    items = list(params)
    if not items:
        raise ValueError("Adam got an empty parameter list.")
    groups = [dict(g) for g in items] if isinstance(items[0], Mapping) else [{"params": items}]
    for group in groups:
        ps = group["params"]
        group["params"] = [ps] if isinstance(ps, torch.Tensor) else list(ps)
    return groups


def adam(
    params: Iterable[torch.Tensor] | Iterable[Mapping[str, Any]], *, lr: float, weight_decay: float
) -> FusedAdam | torch.optim.Adam:
    """Adam with ``lr`` and ``weight_decay`` (the defaults of every group): a
    :class:`FusedAdam` where the fused kernel serves the parameters, else
    ``torch.optim.Adam``'s default implementation (the same update to float32 rounding)."""
    groups = _groups(params)
    if fused_adam_supported(p for g in groups for p in g["params"]):
        return FusedAdam(groups, lr=lr, weight_decay=weight_decay)
    return torch.optim.Adam(groups, lr=lr, weight_decay=weight_decay)
