"""``hamnets classify`` on 2D data: the task's steps, plugged into the training engine."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from ...analysis import GradientRecorder
from ...datasets import Toy2D, check_classification_data, make_toy2d
from ...hdnn import HamiltonianDNN, build_hdnn
from .._configs import FORMAT
from .._device import resolve_device
from .._engine import DONE, Engine, Phase, Stopwatch
from .._parallel import Parallel
from .._resources import FLOAT, HDNN_ACTIVATIONS, hdnn_parameters
from .._rundir import RunDir
from .._session import RunOptions, RunSession
from ._config import ClassifyConfig
from ._protocols import JointProtocol, PaperProtocol, make_protocol

__all__ = [
    "ClassifyResult",
    "fit_classifier",
    "load_data",
    "memory_parts",
    "seeded_generators",
]

#: points per side of the decision-boundary picture's grid
PLOT_GRID = 200


@dataclass
class ClassifyResult:
    """What a finished run leaves: the trained model and read-out, metrics and history."""

    config: ClassifyConfig
    model: HamiltonianDNN
    W: torch.Tensor  # (1, nf)
    mu: torch.Tensor  # (1,)
    data: Toy2D
    metrics: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)
    gradients: GradientRecorder | None = None  # with config.track_gradients
    run: RunDir | None = None  # the run folder, when one was written

    @torch.no_grad()
    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """(n, nf) inputs -> (n,) logits."""
        return (self.model(x) @ self.W.t()).squeeze(1) + self.mu


def seeded_generators(seed: int) -> dict[str, torch.Generator]:
    """One generator per purpose, all derived from the run's seed (the only seeding point)."""
    return {
        purpose: torch.Generator().manual_seed(seed * 1000 + offset)
        for offset, purpose in enumerate(("data", "init", "shuffle"))
    }


def load_data(config: ClassifyConfig, generator: torch.Generator) -> Toy2D:
    """The data set ``config`` names, checked (shapes, finite values, labels, batch size)."""
    data = make_toy2d(
        config.dataset, nf=config.nf, input_features=config.input_features, generator=generator
    )
    check_classification_data(data.x_train, data.y_train, what=f"{config.dataset} (train)")
    check_classification_data(data.x_test, data.y_test, what=f"{config.dataset} (test)")
    if data.x_train.shape[0] < config.batch_size:
        raise ValueError(
            f"batch_size={config.batch_size} is larger than the training set "
            f"({data.x_train.shape[0]} samples); pass a smaller --batch-size."
        )
    return data


def memory_parts(config: ClassifyConfig, n_train: int, n_test: int) -> dict[str, float]:
    """Bytes a 2D run needs at once (see :mod:`hamnets.training._resources`)."""
    nf, layers, batch = config.nf, config.layers, min(config.batch_size, n_train)
    params = hdnn_parameters(nf, layers) + nf + 1  # the network and the read-out
    parts = {
        "parameters": FLOAT * params,
        "gradients and Adam state": 3 * FLOAT * params,
        "activations": FLOAT * HDNN_ACTIVATIONS * layers * batch * nf,
        "data": FLOAT * (n_train + n_test) * nf,
        # the propagation pictures hold every layer's states of the test set; the decision
        # boundary evaluates a PLOT_GRID^2 grid
        "evaluation": FLOAT * (layers + 1) * max(n_test, PLOT_GRID**2) * nf,
    }
    if config.track_gradients:  # one (nf, nf) sensitivity per layer and sample of a batch
        parts["gradient tracking"] = 2 * FLOAT * layers * batch * nf * nf
    return parts


def _samples_bound(dataset: str) -> int:
    """An upper bound on the samples of each split, known before the data are read: 4000 for
    the toy sets; for a file, its lines (CSV) or the rows its header declares (.npz)."""
    from ...datasets import file_samples

    if dataset.endswith((".csv", ".npz")):
        return file_samples(dataset) or 4000
    return 4000


@torch.no_grad()
def _accuracy(model: HamiltonianDNN, W, mu, x, y) -> float:
    logits = (model(x) @ W.t()).squeeze(1) + mu
    return float(((logits >= 0).float() == y).float().mean())


class _Task:
    """The state of a 2D run: network, protocol (optimisers, read-out), gradient record."""

    def __init__(self, model, protocol, gradients: GradientRecorder | None) -> None:
        self.model, self.protocol, self.gradients = model, protocol, gradients

    def state_dict(self) -> dict[str, Any]:
        state = {"model": self.model.state_dict(), "protocol": self.protocol.state_dict()}
        if self.gradients is not None:
            state["gradients"] = self.gradients.state_dict()
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.protocol.load_state_dict(state["protocol"])
        if self.gradients is not None:
            self.gradients.load_state_dict(state["gradients"])

    def parameters(self) -> Iterable[torch.Tensor]:
        yield from self.model.parameters()
        W, mu = self.protocol.classifier()
        yield W
        yield mu


class _Epochs:
    """The training phase: ``epochs * steps_per_epoch`` network steps on shuffled batches.

    Every rank draws the same permutation (same seed) and trains on its share
    ``batch[rank::world]`` of each global batch; statistics are per-sample sums.
    """

    def __init__(self, config, protocol, x, y, shuffle, gradients, parallel, clock) -> None:
        self.config, self.protocol, self.x, self.y = config, protocol, x, y
        self.shuffle, self.gradients, self.parallel, self.clock = (
            shuffle,
            gradients,
            parallel,
            clock,
        )
        self.spe = x.shape[0] // config.batch_size  # steps per epoch
        self.perm: torch.Tensor | None = None
        self._perm_dev: torch.Tensor | None = None

    def step(self, index: int) -> dict[str, float]:
        epoch, batch = divmod(index, self.spe)
        bs = self.config.batch_size
        if batch == 0 or self.perm is None:
            self.perm = torch.randperm(self.x.shape[0], generator=self.shuffle)
            self._perm_dev = None
        if self._perm_dev is None:
            self._perm_dev = self.perm.to(self.x.device)
        whole = self._perm_dev[batch * bs : (batch + 1) * bs]
        idx = self.parallel.shard(whole)  # (B / world,): this rank's share of the batch
        loss, correct = self.protocol.train_step(self.x[idx], self.y[idx], epoch, index, self.spe)
        if self.gradients is not None:
            # on the global batch, as one process would (only rank 0 saves it)
            self.gradients.record(index, self.protocol.model, self.x[whole])
        return {"loss": loss * idx.shape[0], "correct": correct, "seen": idx.shape[0]}

    def end_period(self, totals: Mapping[str, float], done: int) -> dict[str, Any]:
        epoch = done // self.spe - 1
        seen = totals.get("seen", 0.0)
        return {
            "epoch": epoch,
            "loss": totals["loss"] / seen if seen else float("nan"),
            "batch_accuracy": totals.get("correct", 0.0) / max(1.0, seen),
            "lr": self.protocol.lr_at(epoch, (epoch + 1) * self.spe - 1, self.spe),
            "wall_seconds": self.clock().wall,
        }

    def state_dict(self) -> dict[str, Any]:
        return {"shuffle_state": self.shuffle.get_state(), "perm": self.perm}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.shuffle.set_state(state["shuffle_state"])
        self.perm, self._perm_dev = state["perm"], None


class _FinalReadout:
    """The paper protocol's last phase: a new read-out fitted on the frozen features."""

    def __init__(self, protocol, x, y, shuffle, batch_size) -> None:
        self.protocol, self.x, self.y, self.shuffle, self.bs = protocol, x, y, shuffle, batch_size

    def step(self, index: int) -> dict[str, float]:
        self.protocol.fit_classifier(self.x, self.y, self.shuffle, self.bs)
        return {}

    def end_period(self, totals, done) -> None:
        return None

    def state_dict(self) -> dict[str, Any]:
        return {"shuffle_state": self.shuffle.get_state()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.shuffle.set_state(state["shuffle_state"])


def _migrate_v1(ckpt: dict[str, Any]) -> dict[str, Any]:
    """A checkpoint of hamnets 0.1.0's classify (format 1) in the current format."""
    config = ClassifyConfig.from_dict(ckpt["config"], source="checkpoint.pt (config)")
    spe = load_data(config, seeded_generators(config.seed)["data"]).x_train.shape[0]
    spe //= config.batch_size
    done = bool(ckpt.get("done"))
    task = {"model": ckpt["model"], "protocol": ckpt["protocol"]}
    if "gradients" in ckpt:
        task["gradients"] = ckpt["gradients"]
    return {
        "format": FORMAT,
        "kind": ClassifyConfig.KIND,
        "config": ckpt["config"],
        "engine": {
            "phase": DONE if done else "train",
            "done": 0 if done else ckpt["epoch"] * spe + ckpt["batch"],
            "history": ckpt["history"],
            "sums": ckpt["sums"],
            "wall_seconds": ckpt["wall_seconds"],
            "cpu_seconds": ckpt["cpu_seconds"],
        },
        "task": task,
        "stage": None if done else {"shuffle_state": ckpt["shuffle_state"], "perm": ckpt["perm"]},
    }


def fit_classifier(
    config: ClassifyConfig | None,
    options: RunOptions | None = None,
    *,
    parallel: Parallel | None = None,
    on_step: Callable[[str, int], None] | None = None,
) -> ClassifyResult:
    """Train an H-DNN classifier on a 2D set as ``config`` says.

    Args:
        config: the frozen run description; with ``options.resume`` it may be None (the
            run's own), else it must describe the same run (the device may differ).
        options: where and how to run (:class:`~hamnets.training.RunOptions`); None trains
            in memory and writes nothing.
        parallel: this process's place in a data-parallel job; default: from the ``torchrun``
            environment (a single process without it). Every rank gets the same global
            batches (same seeds) and trains on its shard ``batch[rank::world]``; only rank 0
            writes.
        on_step: called as ``on_step(phase, steps_done)`` after every training step.

    Returns:
        The trained model, its read-out, the data, metrics and the per-epoch history. With a
        run folder, ``config.json``, ``checkpoint.pt``, ``metrics.json``, ``history.csv`` and
        the pictures are written there.

    Raises:
        Interrupted: after Ctrl-C, once the checkpoint is saved.
        Diverged: the loss or a weight became NaN or inf (``metrics.json`` says so; the
            last good checkpoint is kept).
    """
    options = RunOptions(folder=False) if options is None else options
    parallel = Parallel.from_env() if parallel is None else parallel
    with RunSession(ClassifyConfig, config, options, parallel, migrate=_migrate_v1) as session:
        config = session.config
        device = parallel.device(resolve_device(config.device))
        parallel.check_batch(config.batch_size)
        parallel.init(device)
        gens = seeded_generators(config.seed)  # the same on every rank: same data and batches
        n_bound = _samples_bound(config.dataset)  # before the data are padded to nf
        session.guard(
            memory_parts(config, n_bound, n_bound), device, hint="--nf, --layers or --batch-size"
        )
        data = load_data(config, gens["data"])
        session.guard(
            memory_parts(config, data.x_train.shape[0], data.x_test.shape[0]),
            device,
            hint="--nf, --layers or --batch-size",
        )
        model = build_hdnn(
            config.model,
            config.nf,
            config.layers,
            config.t_end,
            graph=config.topology(),
            generator=gens["init"],
        ).to(device)
        model.fused = config.fused
        protocol: PaperProtocol | JointProtocol = make_protocol(model, config, device, parallel)
        run = session.claim(f"{data.name}_{config.model}")  # once data and model are valid
        if options.check:  # everything is valid: report what would run, train nothing
            W, mu = protocol.classifier()
            return ClassifyResult(config, model, W, mu, data, session.plan())
        gradients = GradientRecorder() if config.track_gradients else None
        task = _Task(model, protocol, gradients)
        x, y = data.x_train.to(device), data.y_train.to(device)
        spe = x.shape[0] // config.batch_size
        engine: Engine | None = None

        def epochs() -> _Epochs:
            return _Epochs(config, protocol, x, y, gens["shuffle"], gradients, parallel, clock)

        def clock() -> Stopwatch:
            return engine.clock

        phases = [
            Phase("train", config.epochs * spe, epochs, period=spe, checkpoint_every=spe,
                  desc=f"{config.model} {config.dataset}"),
            Phase("readout", 1, lambda: _FinalReadout(protocol, x, y, gens["shuffle"],
                                                      config.batch_size), desc="read-out"),
        ]  # fmt: skip
        engine = session.engine(task, phases, on_step=on_step)
        session.train(engine)
        model.eval()
        W, mu = protocol.classifier()
        history = engine.history
        metrics = {
            "status": "finished",
            "dataset": data.name,
            "model": config.model,
            "graph": config.graph,
            "protocol": config.protocol,
            "layers": config.layers,
            "t_end": config.t_end,
            "train_accuracy": _accuracy(model, W, mu, x, y),
            "test_accuracy": _accuracy(
                model, W, mu, data.x_test.to(device), data.y_test.to(device)
            ),
            "final_loss": history[-1]["loss"] if history else float("nan"),
            "epochs": config.epochs,
            "seed": config.seed,
            "wall_seconds": engine.clock.wall,
            "cpu_seconds": engine.clock.cpu,
            "threads": torch.get_num_threads(),
            "processes": parallel.world_size,
            "device": str(device),
        }
        result = ClassifyResult(config, model, W, mu, data, metrics, history, gradients, run)
        if run is not None and parallel.is_main:
            from ._report import write_classify_outputs

            write_classify_outputs(result, run, plots=options.plots)
        return result
