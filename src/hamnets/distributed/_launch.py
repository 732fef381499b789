"""Start one process per node on this machine, connected over 127.0.0.1 with gloo."""

from __future__ import annotations

import datetime
import socket
import time
from collections.abc import Callable
from typing import Any

import torch.distributed as dist
import torch.multiprocessing as mp

LOCALHOST = "127.0.0.1"


def free_port() -> int:
    """A TCP port that was free on 127.0.0.1 a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOCALHOST, 0))
        return int(s.getsockname()[1])


def connect(rank: int, world_size: int, port: int, timeout_s: float = 60.0) -> Any:
    """A gloo process group over 127.0.0.1 only (its own store; no global default group).

    Rank 0 hosts the ``TCPStore`` on ``127.0.0.1:port``; gloo's pairs also bind to 127.0.0.1.
    Every send/recv times out after ``timeout_s`` seconds.

    Returns:
        a ``torch.distributed.ProcessGroupGloo`` with ``send``/``recv``.
    """
    timeout = datetime.timedelta(seconds=timeout_s)
    store = dist.TCPStore(LOCALHOST, port, world_size, rank == 0, timeout=timeout)
    opts = dist.ProcessGroupGloo._Options()
    opts._devices = [dist.ProcessGroupGloo.create_device(hostname=LOCALHOST)]
    opts._timeout = timeout
    return dist.ProcessGroupGloo(store, rank, world_size, opts)


def launch(
    fn: Callable[..., None],
    nprocs: int,
    args: tuple = (),
    timeout_s: float = 120.0,
    *,
    attempts: int = 4,
) -> None:
    """Run ``fn(rank, port, *args)`` in ``nprocs`` spawned processes and wait for all.

    ``port`` is a free port on 127.0.0.1 for :func:`connect` (or torchrun's ``MASTER_PORT``).
    A port is only known to be free when :func:`free_port` closes its socket; if another
    process takes it before rank 0's store binds it, the job fails with "address already in
    use" before ``fn`` did anything, and it is started again on a new port (up to
    ``attempts`` times).

    Raises:
        TimeoutError: if the processes have not finished after ``timeout_s`` seconds (they
            are terminated first).
        torch.multiprocessing.ProcessRaisedException: if one of them raised.
    """
    if nprocs < 1:
        raise ValueError(f"launch needs nprocs >= 1, got {nprocs}.")
    for attempt in range(1, attempts + 1):
        try:
            _launch_once(fn, nprocs, free_port(), args, timeout_s)
            return
        except mp.ProcessRaisedException as exc:
            if attempt == attempts or not _port_taken(exc):
                raise


def _port_taken(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "address already in use" in text or "eaddrinuse" in text


def _launch_once(
    fn: Callable[..., None], nprocs: int, port: int, args: tuple, timeout_s: float
) -> None:
    ctx = mp.start_processes(fn, args=(port, *args), nprocs=nprocs, join=False,
                             start_method="spawn")  # fmt: skip
    deadline = time.monotonic() + timeout_s
    try:
        while not ctx.join(timeout=max(0.1, min(1.0, deadline - time.monotonic()))):
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{nprocs} node processes did not finish within {timeout_s:g} s; "
                    f"terminated them."
                )
    finally:
        for proc in ctx.processes:
            if proc.is_alive():
                proc.terminate()
                proc.join(5)
