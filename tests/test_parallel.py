"""Data-parallel classify: 2 processes follow the 1-process run; a failing rank ends the job."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from hamnets.distributed import launch
from hamnets.training import ClassifyConfig, Interrupted, Parallel, RunDir, fit_classifier

CONFIGS = [
    ClassifyConfig(dataset="double_moons", model="H2", nf=4, layers=4, t_end=2.0, epochs=1,
                   batch_size=100, protocol=protocol, final_readout_epochs=1)
    for protocol in ("joint", "paper")
]  # fmt: skip
# 40 steps per epoch; rank 1 alone gets Ctrl-C at step 50 (epoch 1, after its 11th batch).
RESUMED = ClassifyConfig(dataset="double_moons", model="H2", nf=4, layers=4, t_end=2.0,
                         epochs=2, batch_size=100, protocol="joint")  # fmt: skip


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
    if fail_at is not None:
        return

    def ctrl_c(step: int) -> None:
        if rank == 1 and step == 50:
            os.kill(os.getpid(), signal.SIGINT)

    run = RunDir(Path(out_dir) / "run")
    try:
        fit_classifier(RESUMED, run, parallel=parallel, on_iteration=ctrl_c)
    except Interrupted:
        (Path(out_dir) / f"interrupted-rank{rank}").touch()


@pytest.fixture
def one_thread():
    """The single-process baselines run on one thread, like each rank (8x faster here)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_two_processes_match_one_process_and_resume_on_one(tmp_path: Path, one_thread) -> None:
    launch(_worker, 2, args=(2, str(tmp_path), None), timeout_s=120)
    for config in CONFIGS:
        single = fit_classifier(config, None, parallel=Parallel())
        expected = {**single.model.state_dict(), "W": single.W, "mu": single.mu}
        for rank in (0, 1):
            got = torch.load(tmp_path / f"{config.protocol}-rank{rank}.pt")
            for name, value in expected.items():
                torch.testing.assert_close(got[name], value, rtol=0, atol=1e-5, msg=name)
    # Ctrl-C on one rank stops both after the same step; rank 0's checkpoint then resumes in a
    # single process and ends where an uninterrupted single-process run ends.
    assert (tmp_path / "interrupted-rank0").exists() and (tmp_path / "interrupted-rank1").exists()
    run = RunDir(tmp_path / "run")
    ckpt = run.load_checkpoint()
    assert (ckpt["epoch"], ckpt["batch"]) == (1, 11)
    resumed = fit_classifier(RESUMED, run, resume=True, parallel=Parallel())
    full = fit_classifier(RESUMED, None, parallel=Parallel())
    for name, value in full.model.state_dict().items():
        torch.testing.assert_close(resumed.model.state_dict()[name], value, rtol=0, atol=1e-5)
    torch.testing.assert_close(resumed.W, full.W, rtol=0, atol=1e-5)


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
