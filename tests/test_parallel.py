"""Data-parallel classify: 2 processes follow the 1-process run; a failing rank ends the job."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from hamnets.distributed import launch
from hamnets.training import ClassifyConfig, Parallel, fit_classifier

CONFIGS = [
    ClassifyConfig(dataset="double_moons", model="H2", nf=4, layers=4, t_end=2.0, epochs=1,
                   batch_size=100, protocol=protocol, final_readout_epochs=1)
    for protocol in ("joint", "paper")
]  # fmt: skip


def _worker(rank: int, port: int, world: int, out_dir: str, fail_at: int | None) -> None:
    os.environ.update(  # this child's own environment, as torchrun would set it
        RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank),
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), GLOO_SOCKET_IFNAME="lo",
    )  # fmt: skip
    torch.set_num_threads(1)
    parallel = Parallel.from_env()

    def on_iteration(step: int) -> None:
        if rank == 1 and step == fail_at:
            raise RuntimeError("rank 1 failed on purpose")

    for config in CONFIGS:
        result = fit_classifier(config, None, parallel=parallel, on_iteration=on_iteration)
        state = {**result.model.state_dict(), "W": result.W, "mu": result.mu}
        torch.save(state, Path(out_dir) / f"{config.protocol}-rank{rank}.pt")


def test_two_processes_match_one_process(tmp_path: Path) -> None:
    launch(_worker, 2, args=(2, str(tmp_path), None), timeout_s=120)
    for config in CONFIGS:
        single = fit_classifier(config, None, parallel=Parallel())
        expected = {**single.model.state_dict(), "W": single.W, "mu": single.mu}
        for rank in (0, 1):
            got = torch.load(tmp_path / f"{config.protocol}-rank{rank}.pt")
            for name, value in expected.items():
                torch.testing.assert_close(got[name], value, rtol=0, atol=1e-5, msg=name)


@pytest.mark.slow
def test_a_failing_rank_ends_the_job_with_its_message(tmp_path: Path) -> None:
    with pytest.raises(mp.ProcessRaisedException, match="rank 1 failed on purpose"):
        launch(_worker, 2, args=(2, str(tmp_path), 2), timeout_s=120)


def test_parallel_from_env_and_errors() -> None:
    p = Parallel.from_env({"RANK": "1", "WORLD_SIZE": "4", "LOCAL_RANK": "1"})
    assert (p.rank, p.world_size, p.active, p.is_main) == (1, 4, True, False)
    assert p.shard(torch.arange(8)).tolist() == [1, 5]
    assert Parallel.from_env({}) == Parallel()
    with pytest.raises(ValueError, match="0 <= rank < world_size"):
        Parallel(rank=2, world_size=2)
    with pytest.raises(ValueError, match="divisible by the number of processes"):
        p.check_batch(125)
    with pytest.raises(ValueError, match="bad torchrun environment"):
        Parallel.from_env({"RANK": "x"})
