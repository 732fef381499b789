"""Data-parallel training: which process this is, and the few collective steps it needs."""

from __future__ import annotations

import datetime
import os
from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

__all__ = ["Parallel"]


@dataclass(frozen=True)
class Parallel:
    """The position of this process in a data-parallel job (``torchrun`` conventions).

    Every rank holds the whole data set and builds the same model from the same seeds; each
    global mini-batch (the one a single process would use) is split as ``batch[rank::world]``,
    and gradients are averaged by :class:`~torch.nn.parallel.DistributedDataParallel`. With
    equal shards the average of the shard means is the global mean, so ``world_size``
    processes follow the single-process run up to floating-point summation order. Only rank 0
    writes files and shows a progress bar.

    Attributes:
        rank: global rank, ``0 .. world_size - 1``.
        world_size: number of processes (1: plain single-process training).
        local_rank: rank on this machine (picks ``cuda:local_rank``).
        timeout_s: a collective that waits longer than this fails (a crashed rank then ends
            the job with an error instead of a hang).
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    timeout_s: float = 300.0

    def __post_init__(self) -> None:
        if self.world_size < 1 or not 0 <= self.rank < self.world_size:
            raise ValueError(
                f"need 0 <= rank < world_size, got rank={self.rank}, world_size={self.world_size}."
            )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Parallel:
        """Read ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` as set by ``torchrun`` (else 0, 1, 0);
        ``HAMNETS_DIST_TIMEOUT`` (seconds) overrides the collective timeout."""
        env = os.environ if env is None else env
        try:
            return cls(
                rank=int(env.get("RANK", 0)),
                world_size=int(env.get("WORLD_SIZE", 1)),
                local_rank=int(env.get("LOCAL_RANK", 0)),
                timeout_s=float(env.get("HAMNETS_DIST_TIMEOUT", 300)),
            )
        except ValueError as exc:
            raise ValueError(
                f"bad torchrun environment (RANK/WORLD_SIZE/LOCAL_RANK): {exc}"
            ) from None

    @property
    def active(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the one that writes files and prints."""
        return self.rank == 0

    def device(self, device: torch.device) -> torch.device:
        """``cuda`` becomes ``cuda:local_rank`` in a multi-process job."""
        if self.active and device.type == "cuda" and device.index is None:
            return torch.device("cuda", self.local_rank)
        return device

    def init(self, device: torch.device) -> None:
        """Join the job's process group (``nccl`` on CUDA, else ``gloo``) unless already in it.

        Uses torchrun's ``env://`` rendezvous (``MASTER_ADDR``, ``MASTER_PORT``).
        """
        if not self.active or dist.is_initialized():
            return
        if "MASTER_ADDR" not in os.environ or "MASTER_PORT" not in os.environ:
            raise ValueError(
                f"WORLD_SIZE={self.world_size} but MASTER_ADDR/MASTER_PORT are not set; "
                f"start the job with torchrun --nproc-per-node N -m hamnets ..."
            )
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(
            backend,
            rank=self.rank,
            world_size=self.world_size,
            timeout=datetime.timedelta(seconds=self.timeout_s),
        )

    def check_batch(self, batch_size: int) -> None:
        if batch_size % self.world_size:
            raise ValueError(
                f"batch_size={batch_size} does not split into {self.world_size} equal shards; "
                f"pass a --batch-size divisible by the number of processes."
            )

    def shard(self, idx: torch.Tensor) -> torch.Tensor:
        """This rank's share ``idx[rank::world_size]`` of a global mini-batch ``(B,)``."""
        return idx[self.rank :: self.world_size] if self.active else idx

    def wrap(self, module: nn.Module) -> nn.Module:
        """``DistributedDataParallel(module)`` in a multi-process job, else ``module``.

        DDP broadcasts rank 0's parameters and buffers at construction.
        """
        if not self.active:
            return module
        device = next(module.parameters()).device
        ids = [device] if device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(module, device_ids=ids)

    def gather_rows(self, x: torch.Tensor) -> torch.Tensor:
        """Concatenate every rank's ``(b, ...)`` rows in rank order (no gradient)."""
        if not self.active:
            return x
        parts = [torch.empty_like(x) for _ in range(self.world_size)]
        dist.all_gather(parts, x.contiguous())
        return torch.cat(parts, 0)

    def any(self, flag: bool) -> bool:
        """True on every rank if ``flag`` is true on any rank (e.g. Ctrl-C seen by one)."""
        return self.sum(float(flag)) > 0 if self.active else flag

    def all(self, flag: bool) -> bool:
        """True on every rank if ``flag`` is true on every rank."""
        return not self.any(not flag)

    def flags(self, *flags: bool) -> tuple[bool, ...]:
        """Each flag OR-ed over the ranks, in one collective."""
        if not self.active:
            return tuple(bool(f) for f in flags)
        t = torch.tensor([float(f) for f in flags], dtype=torch.float64)
        if dist.get_backend() == "nccl":
            t = t.cuda()
        dist.all_reduce(t)
        return tuple(bool(v > 0) for v in t.tolist())

    def broadcast(self, obj: object) -> object:
        """Rank 0's ``obj`` on every rank (e.g. the run folder rank 0 chose)."""
        if not self.active:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def sums(self, values: Mapping[str, float]) -> dict[str, float]:
        """Each value summed over all ranks, in one collective (keys in sorted order, so every
        rank must hold the same keys)."""
        keys = sorted(values)
        if not self.active or not keys:
            return {k: float(values[k]) for k in keys}
        t = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64)
        if dist.get_backend() == "nccl":
            t = t.cuda()
        dist.all_reduce(t)
        return dict(zip(keys, t.tolist(), strict=True))

    def sum(self, value: float) -> float:
        """Sum a number over all ranks (for epoch statistics)."""
        if not self.active:
            return value
        t = torch.tensor([float(value)], dtype=torch.float64)
        if dist.get_backend() == "nccl":
            t = t.cuda()
        dist.all_reduce(t)
        return float(t.item())
