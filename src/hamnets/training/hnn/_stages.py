"""The training stages of ``hamnets hnn`` as engine stages: derivative regression and
trajectory fitting, each a checkpointable run of Adam steps."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from ...hnn._fused_loss import RegressionKernel
from ...integrate import Solver, build_solver, odeint
from .._adam import adam
from .._parallel import Parallel
from ._evaluate import derivative_mse

if TYPE_CHECKING:
    from ._config import HNNConfig

__all__ = ["DerivativeRegression", "TrajectoryFit"]


class _Steps:
    """What both stages share: the history row of the last step's loss, and resuming the
    batch generator (the stage's randomness) with the stage."""

    label: str
    parallel: Parallel
    generator: torch.Generator | None
    last: float

    def end_period(self, totals: Mapping[str, float], done: int) -> dict[str, Any]:
        """The row of step ``done``: its loss averaged over the ranks (the global batch's)."""
        loss = self.parallel.sum(self.last) / self.parallel.world_size
        return {"stage": self.label, "step": done, "train_loss": loss}

    def _save_generator(self, state: dict[str, Any]) -> dict[str, Any]:
        if self.generator is not None:
            state["generator"] = self.generator.get_state()
        return state

    def _load_generator(self, state: Mapping[str, Any]) -> None:
        if self.generator is not None:
            self.generator.set_state(state["generator"])


class DerivativeRegression(_Steps):
    """Derivative regression ``mean |f_theta(x) - dxdt|^2`` as checkpointable Adam steps.

    Mini-batches (``config.batch_size > 0``) are drawn without replacement with ``generator``
    (one permutation per pass, the first drawn at construction); with ``config.shuffle``
    False they are taken in the data's order instead (pairs ``0 .. B-1``, then ``B .. 2B-1``,
    ...; Julia's ``DataLoader(...; batchsize = B)``) and ``generator`` draws nothing. Either
    way a pass ends where a whole batch no longer fits: its last ``N mod B`` pairs are
    skipped (in order, the same ones every pass; the ``DataLoader`` would take them as a
    smaller last batch; the tutorial's 1024 pairs are 4 whole batches of 256). ``0`` uses all
    pairs each step. The learning rate follows the cosine schedule of ``config``, a function
    of the step number alone. The state holds the optimiser, the batch order and the generator.

    In a data-parallel job every rank draws the same global batch of ``B`` pairs and trains
    on its share ``batch[rank::world]`` of ``b_r`` pairs through DistributedDataParallel, with
    its shard's mean squared error scaled by ``b_r * world / B``: the average of the ranks'
    gradients is then the gradient of the global batch's mean, also for unequal shards.

    Args:
        model: the field network.
        x, dxdt: training pairs: rows ``(N, k)`` the model reads (states, ``k = dim``; a
            port system's ``(state, input, time)``) and their derivatives ``(N, dim)``.
        x_test, dxdt_test: test pairs for the history's ``test_loss`` (optional).
        label: the history's ``stage`` column.
    """

    def __init__(
        self,
        model: nn.Module,
        x: torch.Tensor,
        dxdt: torch.Tensor,
        config: HNNConfig,
        generator: torch.Generator,
        *,
        label: str,
        x_test: torch.Tensor | None = None,
        dxdt_test: torch.Tensor | None = None,
        parallel: Parallel | None = None,
    ) -> None:
        if not bool(torch.isfinite(x).all() and torch.isfinite(dxdt).all()):
            raise ValueError("the training data contain NaN or inf; refusing to train.")
        if x.ndim != 2 or dxdt.ndim != 2 or x.shape[0] != dxdt.shape[0]:
            raise ValueError(
                f"pairs must be (N, k) rows and (N, dim) targets, got {tuple(x.shape)}, "
                f"{tuple(dxdt.shape)}."
            )
        self.model, self.x, self.dxdt = model, x, dxdt
        self.x_test, self.dxdt_test = x_test, dxdt_test
        self.config, self.generator, self.label = config, generator, label
        params = (
            model.param_groups(config.lr, config.structure_lr)
            if hasattr(model, "param_groups")  # a port model: its structure at its own rate
            else model.parameters()
        )
        self.opt = adam(params, lr=config.lr, weight_decay=config.weight_decay)
        # each group's rate at step 0, scaled by the schedule (kept out of the checkpoint)
        self.base_lrs = [group["lr"] for group in self.opt.param_groups]
        n = x.shape[0]
        self.batch = n if config.batch_size == 0 or config.batch_size >= n else config.batch_size
        self.perm, self.pos = self._order(), 0
        self.parallel = Parallel() if parallel is None else parallel
        if self.batch < self.parallel.world_size:
            raise ValueError(
                f"a batch of {self.batch} pairs does not split over {self.parallel.world_size} "
                f"processes; pass a --batch-size of at least {self.parallel.world_size}."
            )
        self.net = self.parallel.wrap(model)  # the module whose forward computes the field
        # a tanh HNN or MLP baseline on CPU: loss and gradients in one C call, no autograd
        # graph (hamnets.hnn._fused_loss); None: through the forward and autograd
        self.kernel = None if self.parallel.active else RegressionKernel.build(model, x, dxdt)
        self.last = float("nan")

    def _order(self) -> torch.Tensor:
        """The order of one pass over the pairs ``(N,)``: random, or in order."""
        n = self.x.shape[0]
        if self.config.shuffle:
            return torch.randperm(n, generator=self.generator)
        return torch.arange(n)

    def step(self, index: int) -> dict[str, float]:
        """Adam step ``index + 1``; ``loss``: this rank's scaled share of the batch's loss
        (whose average over the ranks is the loss of the global batch)."""
        x, dxdt, n, bs = self.x, self.dxdt, self.x.shape[0], self.batch
        parallel = self.parallel
        if bs == n:
            xb, yb = parallel.shard(x), parallel.shard(dxdt)  # (b_r, dim): this rank's rows
        else:
            if self.pos + bs > n:
                self.perm, self.pos = self._order(), 0
            idx = parallel.shard(self.perm[self.pos : self.pos + bs]).to(x.device)  # (b_r,)
            self.pos += bs
            xb, yb = x[idx], dxdt[idx]
        config, frac = self.config, self.config.final_lr_fraction
        cosine = 0.5 * (1 + math.cos(math.pi * index / max(1, config.steps - 1)))
        for group, base in zip(self.opt.param_groups, self.base_lrs, strict=True):
            group["lr"] = base * (frac + (1 - frac) * cosine)
        loss = None if self.kernel is None else self.kernel(xb, yb)  # (sets every .grad)
        if loss is None:
            self.opt.zero_grad(set_to_none=True)
            mse = (self.net(xb) - yb).pow(2).mean()
            if parallel.active:  # the shard's share of the global mean (see the class text)
                mse = mse * (xb.shape[0] * parallel.world_size / bs)
            mse.backward()
            loss = float(mse.detach())
        self.opt.step()
        self.last = loss
        return {"loss": self.last}

    def end_period(self, totals: Mapping[str, float], done: int) -> dict[str, Any]:
        row = super().end_period(totals, done)
        if self.x_test is not None:
            row["test_loss"] = derivative_mse(self.model, self.x_test, self.dxdt_test)
        return row

    def state_dict(self) -> dict[str, Any]:
        state = {"optimizer": self.opt.state_dict(), "perm": self.perm, "pos": self.pos}
        return self._save_generator(state)

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.opt.load_state_dict(state["optimizer"])
        self.perm, self.pos = state["perm"], int(state["pos"])
        self._load_generator(state)


class _Trajectories(nn.Module):
    """The unknowns of the trajectory stage, the field's parameters and one initial state per
    trajectory, with the stage's loss as forward (so DistributedDataParallel can wrap it)."""

    def __init__(self, field: nn.Module, z0: torch.Tensor, solver: Solver) -> None:
        super().__init__()
        self.field = field
        self.z = nn.Parameter(z0)  # (n_traj, dim)
        self.solver = solver

    def forward(
        self,
        rows: torch.Tensor | None,
        t: torch.Tensor,
        target: torch.Tensor,
        dxdt: torch.Tensor | None,
    ) -> torch.Tensor:
        """Loss of the trajectories ``rows`` (all when None), observed as ``target``
        ``(T, b, dim)`` at ``t`` ``(T,)``, with clean derivatives ``dxdt`` ``(b, T, dim)``."""
        z = self.z if rows is None else self.z[rows]  # (b, dim)
        pred = odeint(self.field, z, t, self.solver)  # (T, b, dim)
        loss = (pred - target).pow(2).mean()
        if dxdt is not None:
            fitted = pred.transpose(0, 1).reshape(-1, pred.shape[-1])  # (b * T, dim)
            loss = loss + (self.field(fitted) - dxdt.reshape(fitted.shape)).pow(2).mean()
        return loss


class TrajectoryFit(_Steps):
    """The noise-aware stage: fit observed trajectories through the solver.

    Each training trajectory ``i`` gets a free initial state ``z_i`` (started at its first
    noisy observation); the loss is ``mean_i,k |x_ik - y_ik|^2`` with
    ``x_i = odeint(f_theta, z_i, t)``, plus, when the clean derivatives ``dxdt`` are given,
    ``mean_i,k |f_theta(x_ik) - dxdt_ik|^2``: derivative regression at the *fitted* states
    instead of the noisy ones. Both are minimised over ``theta`` and ``z`` with Adam
    (``config.trajectory_lr``). With Gaussian observation noise this is a maximum-likelihood
    fit; unlike derivative regression on noisy inputs it is not biased by the input noise. The
    solver is ``config.trajectory_solver`` with step ``config.trajectory_dt``.

    In a data-parallel job each rank fits its share ``[rank::world]`` of the trajectories, its
    loss scaled by ``b_r * world / n_traj`` as in :class:`DerivativeRegression`; every rank
    holds all initial states, and the averaged gradient of those outside its share is the
    other ranks'.

    Args:
        states: observed states ``(n_traj, T, dim)`` at times ``t`` ``(T,)``.
        dxdt: clean time derivatives ``(n_traj, T, dim)`` (optional).
        generator: the run's batch generator, saved with the stage (it draws nothing).
    """

    def __init__(
        self,
        model: nn.Module,
        states: torch.Tensor,
        t: torch.Tensor,
        config: HNNConfig,
        *,
        dxdt: torch.Tensor | None = None,
        label: str = "trajectory",
        generator: torch.Generator | None = None,
        parallel: Parallel | None = None,
    ) -> None:
        self.parallel = parallel = Parallel() if parallel is None else parallel
        self.generator = generator
        n_traj = states.shape[0]
        if n_traj < parallel.world_size:
            raise ValueError(
                f"{n_traj} training trajectories do not split over {parallel.world_size} "
                f"processes; use fewer processes."
            )
        solver = build_solver(
            config.trajectory_solver, dt=config.trajectory_dt, rtol=config.rtol, atol=config.atol
        )
        self.unknowns = _Trajectories(model, states[:, 0].clone(), solver)
        self.opt = torch.optim.Adam(
            [{"params": model.parameters()}, {"params": [self.unknowns.z]}],
            lr=config.trajectory_lr,
        )
        self.rows = None
        if parallel.active:
            self.rows = parallel.shard(torch.arange(n_traj, device=states.device))  # (b_r,)
            states = states[self.rows]
            dxdt = None if dxdt is None else dxdt[self.rows]
        self.scale = states.shape[0] * parallel.world_size / n_traj
        self.t, self.dxdt, self.label = t, dxdt, label
        self.target = states.transpose(0, 1)  # (T, b_r, dim)
        self.net = parallel.wrap(self.unknowns)
        self.last = float("nan")

    @property
    def solver(self) -> Solver:
        return self.unknowns.solver

    def step(self, index: int) -> dict[str, float]:
        """One Adam step on the fitted trajectories' loss (this rank's scaled share)."""
        loss = self.net(self.rows, self.t, self.target, self.dxdt)
        if self.parallel.active:
            loss = loss * self.scale
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.last = float(loss.detach())
        return {"loss": self.last}

    def state_dict(self) -> dict[str, Any]:
        state = {"optimizer": self.opt.state_dict(), "z": self.unknowns.z.detach().clone()}
        return self._save_generator(state)

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.opt.load_state_dict(state["optimizer"])
        with torch.no_grad():
            self.unknowns.z.copy_(state["z"])
        self._load_generator(state)
