"""Image classification: the per-pixel H-DNN classifier, the image configuration, training on
the engine (resume, Ctrl-C, divergence), evaluation. Tiny synthetic data; no real MNIST."""

from __future__ import annotations

import dataclasses
import json
import os
import signal

import numpy as np
import pytest
import torch
from helpers import blob_data, md5s, write_set

from hamnets.datasets import _images as images_mod
from hamnets.hdnn import H1, H2, MODEL_NAMES, MS1, MS2, MS3, DissipativeH1, _cstack, build_hdnn
from hamnets.hdnn._pixelwise import PixelwiseHDNN
from hamnets.training import (
    ConfigError,
    Diverged,
    ImageConfig,
    Interrupted,
    MnistConfig,
    RunDir,
    RunFolderError,
    RunOptions,
    build_image_model,
    evaluate_images,
    run_images,
)
from hamnets.vision import HDNNImageClassifier, LogisticRegression


# -- the model -----------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread, as the CLI uses: these tiny matrices gain nothing from two, and a
    second thread on a busy 2-core machine makes every step several times slower."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


EXPECTED = {
    "H1_J1": (H1, "J1"),
    "H1_J2": (H1, "J2"),
    "H2": (H2, None),
    "MS1": (MS1, None),
    "MS2": (MS2, None),
    "MS3": (MS3, None),
    "pH1_J1": (DissipativeH1, "J1"),
    "pH1_J2": (DissipativeH1, "J2"),
}


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_the_model_asked_for_is_the_one_built(name):
    cls, j = EXPECTED[name]
    cfg = ImageConfig(model=name, layers=3, h=0.2)
    model = build_image_model(cfg, (28, 28), 10, torch.Generator().manual_seed(0))
    assert type(model.hdnn) is cls
    assert getattr(model.hdnn, "j", None) == j
    assert model.hdnn.n_layers == 3
    assert model.hdnn.t_end == pytest.approx(0.6)
    assert model.hdnn.nf == 8


def test_fused_setting_picks_the_classifier_path():
    """The default runs the fused planes on a CPU (``fused=None``: decided per input device);
    ``fused=False`` (``--no-fused``) the plain modules everywhere."""
    gen = torch.Generator().manual_seed(0)
    assert build_image_model(ImageConfig(model="MS1"), (28, 28), 10, gen).fused is None
    plain = build_image_model(ImageConfig(model="MS1", fused=False), (28, 28), 10, gen)
    assert plain.fused is False
    plain(torch.randn(2, 1, 28, 28, generator=gen))
    assert plain.hdnn.fused is False


def test_classifier_architecture_and_shapes():
    model = HDNNImageClassifier("H1_J1", 2, 0.5, generator=torch.Generator().manual_seed(0))
    assert tuple(model.conv.weight.shape) == (8, 1, 3, 3)
    assert model.conv.padding == (1, 1)
    assert tuple(model.fc.weight.shape) == (10, 6272)
    out = model(torch.randn(5, 1, 28, 28))
    assert out.shape == (5, 10)
    with pytest.raises(ValueError, match=r"\(batch, 1, 28, 28\)"):
        model(torch.randn(5, 28, 28))
    with pytest.raises(ValueError, match="unknown model 'H3'"):
        HDNNImageClassifier("H3", 2, 0.5)


def test_two_stage_classifier_is_pool_conv_hdnn_on_the_first_stage():
    gen = torch.Generator().manual_seed(0)
    model = HDNNImageClassifier("MS1", 2, 0.4, channels=4, stages=2, generator=gen).double()
    one = HDNNImageClassifier("MS1", 2, 0.4, channels=4, generator=torch.Generator())
    assert len(model.more) == 1 and type(model.more[0].hamiltonian.hdnn) is MS1
    assert model.more[0].hamiltonian.hdnn.nf == 8
    assert tuple(model.more[0].conv.weight.shape) == (8, 4, 3, 3)
    assert tuple(model.fc.weight.shape) == (10, 8 * 14 * 14)
    assert tuple(one.fc.weight.shape) == (10, 4 * 28 * 28)
    x = torch.randn(3, 1, 28, 28, dtype=torch.float64, generator=gen)
    # the forward pass written out: stage 1, pool, conv, per-pixel H-DNN, linear map
    y = model.hamiltonian(model.conv(x)).permute(0, 3, 1, 2)
    y = torch.nn.functional.avg_pool2d(y, 2)
    y = model.more[0].conv(y).permute(0, 2, 3, 1).reshape(-1, 8)
    y = model.more[0].hamiltonian.hdnn(y).reshape(3, -1)
    torch.testing.assert_close(model(x), model.fc(y), rtol=0, atol=1e-12)
    reg = model.hamiltonian.regularizer(0.1) + model.more[0].hamiltonian.regularizer(0.1)
    torch.testing.assert_close(model.regularizer(0.1), reg)
    with pytest.raises(ValueError, match="divisible by 4"):
        HDNNImageClassifier("MS1", 2, 0.4, stages=3, image_size=(30, 30))
    with pytest.raises(ValueError, match="stages must be a positive integer"):
        HDNNImageClassifier("MS1", 2, 0.4, stages=0)


@pytest.mark.parametrize("name", ["H1_J2", "MS1"])
def test_pixelwise_hdnn_is_the_hdnn_at_every_pixel(name):
    hdnn = build_hdnn(name, 8, 3, 1.0, generator=torch.Generator().manual_seed(1))
    pix = PixelwiseHDNN(hdnn)
    x = torch.randn(2, 8, 5, 4, dtype=torch.float64)
    pix = pix.double()
    out = pix(x)  # (B, H, W, C)
    assert out.shape == (2, 5, 4, 8)
    for b, i, j in [(0, 0, 0), (1, 4, 3), (0, 2, 1)]:
        ref = hdnn(x[b, :, i, j][None])[0]  # one pixel's channels as one state
        torch.testing.assert_close(out[b, i, j], ref)
    torch.testing.assert_close(PixelwiseHDNN.channels_first(out)[1, :, 4, 3], out[1, 4, 3])


def test_regulariser_is_the_hdnn_one():
    model = HDNNImageClassifier("MS1", 4, 0.4, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(model.regularizer(1e-3), model.hdnn.regularizer(1e-3))
    assert LogisticRegression()(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    assert float(LogisticRegression().regularizer(1.0)) == 0.0


def test_config_fills_the_paper_values_per_model():
    assert (ImageConfig(model="MS1").h, ImageConfig(model="MS1").weight_decay) == (0.4, 1e-3)
    cfg = ImageConfig(model="H1_J1")
    assert (cfg.h, cfg.weight_decay, cfg.alpha) == (0.5, 4e-3, 8e-3)
    cfg = ImageConfig(model="H1_J2", h=0.1)
    assert (cfg.h, cfg.weight_decay, cfg.alpha) == (0.1, 2e-4, 1e-3)
    assert (cfg.lr, cfg.gamma, cfg.batch_size, cfg.epochs, cfg.val_size) == (
        0.04,
        0.8,
        100,
        10,
        5000,
    )
    with pytest.raises(ValueError, match="batch_size must be > 0"):
        ImageConfig(batch_size=0)
    with pytest.raises(ValueError, match="unknown dataset 'cifar'"):
        ImageConfig(dataset="cifar")
    with pytest.raises(ValueError, match="gamma must be in"):
        ImageConfig(gamma=1.5)


def test_config_has_the_vocabulary_of_classify_and_reads_old_names():
    assert MnistConfig is ImageConfig
    cfg = ImageConfig.from_dict({"model": "MS1", "n_layers": 3, "channels": 4, "epochs": 2})
    assert (cfg.layers, cfg.nf, cfg.epochs) == (3, 4, 2)
    assert ImageConfig.from_dict(cfg.to_dict()) == cfg
    assert {"layers", "nf", "format"} <= set(cfg.to_dict()) and "n_layers" not in cfg.to_dict()
    assert ImageConfig.free_fields() == {"device", "data_dir", "download", "fused"}
    with pytest.raises(ConfigError, match="layers: expected an integer"):
        ImageConfig.from_dict({"layers": "four"})
    with pytest.raises(ConfigError, match="nf must be > 0"):
        ImageConfig.from_dict({"channels": 0})


# -- training ------------------------------------------------------------------------------
def tiny_config(**kw):
    base = dict(model="H1_J2", layers=2, epochs=2, batch_size=20, val_size=40, lr=0.01)
    return ImageConfig(**{**base, **kw})


def _ctrl_c_at(step: int):
    """An ``on_step`` that sends this process SIGINT (Ctrl-C) after training step ``step``."""

    def on_step(phase: str, done: int) -> None:
        if done == step:
            os.kill(os.getpid(), signal.SIGINT)

    return on_step


def _weights(folder) -> dict[str, torch.Tensor]:
    return RunDir(folder).load_checkpoint()["task"]["model"]  # weights_only


def _rows(metrics) -> list[dict]:
    strip = ("train_seconds", "images_per_s")
    return [{k: v for k, v in r.items() if k not in strip} for r in metrics["per_epoch"]]


def test_training_learns_and_writes_the_run_directory(tmp_path):
    data = blob_data()
    metrics = run_images(
        tiny_config(epochs=3), RunOptions(out=str(tmp_path / "run")), data=data
    ).metrics
    assert metrics["test_accuracy"] >= 0.9
    assert metrics["n_train"] == 200 and metrics["n_val"] == 40 and metrics["n_test"] == 60
    assert [row["epoch"] for row in metrics["per_epoch"]] == [1, 2, 3]
    lrs = [row["lr"] for row in metrics["per_epoch"]]
    np.testing.assert_allclose(lrs, [0.01, 0.008, 0.0064])
    for name in ("config.json", "metrics.json", "history.csv", "checkpoint.pt"):
        assert (tmp_path / "run" / name).is_file()
    for name in ("confusion.png", "samples.png"):
        assert (tmp_path / "run" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len((tmp_path / "run" / "history.csv").read_text().splitlines()) == 4
    again = evaluate_images(tmp_path / "run", data=data)
    assert again["test_accuracy"] == metrics["test_accuracy"]
    assert (again["epoch"], again["n_test"]) == (3, 60)


def test_metrics_have_the_keys_of_every_classify_run(tmp_path):
    metrics = run_images(tiny_config(epochs=1), RunOptions(out=str(tmp_path / "r"), plots=False),
                         data=blob_data(n_train=100)).metrics  # fmt: skip
    shared = ["status", "dataset", "model", "train_accuracy", "test_accuracy", "val_accuracy",
              "final_loss", "epochs", "seed", "wall_seconds", "cpu_seconds"]  # fmt: skip
    extras = ["n_train", "n_val", "n_test", "n_parameters", "train_seconds", "images_per_s",
              "threads", "c_stack", "per_epoch"]  # fmt: skip
    assert list(metrics) == shared + extras
    assert metrics["c_stack"] is False  # (tiny_config's model is not MS1)
    ms1 = run_images(tiny_config(epochs=1, model="MS1", batch_size=50), RunOptions(plots=False),
                     data=blob_data(n_train=100)).metrics  # fmt: skip
    assert ms1["c_stack"] is (_cstack.ms1_library() is not None)  # 50 x 784 pixels a batch
    plain = run_images(tiny_config(epochs=1, model="MS1", fused=False), RunOptions(plots=False),
                       data=blob_data(n_train=100)).metrics  # fmt: skip
    assert plain["c_stack"] is False
    assert metrics["status"] == "finished"
    row = metrics["per_epoch"][-1]
    assert list(row) == ["epoch", "lr", "train_loss", "train_accuracy", "val_accuracy",
                         "test_accuracy", "train_seconds", "images_per_s"]  # fmt: skip
    assert metrics["train_accuracy"] == row["train_accuracy"]
    assert metrics["final_loss"] == row["train_loss"]
    assert metrics["val_accuracy"] == row["val_accuracy"]
    assert json.loads((tmp_path / "r" / "metrics.json").read_text())["status"] == "finished"
    assert not (tmp_path / "r" / "confusion.png").exists()  # plots=False


def test_without_options_nothing_is_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    metrics = run_images(tiny_config(epochs=1), data=blob_data(n_train=100)).metrics
    assert metrics["epochs"] == 1
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("shift", [0, 2])
def test_resume_after_ctrl_c_gives_the_uninterrupted_result(tmp_path, shift):
    data = blob_data(n_train=140)
    cfg = tiny_config(shift=shift)
    full = run_images(cfg, RunOptions(out=str(tmp_path / "full"), plots=False), data=data).metrics
    with pytest.raises(Interrupted):  # after batch 2 of epoch 0
        run_images(cfg, RunOptions(out=str(tmp_path / "cut"), plots=False), data=data,
                   on_step=_ctrl_c_at(3))  # fmt: skip
    assert RunDir(tmp_path / "cut").load_checkpoint()["engine"]["done"] == 3
    resumed = run_images(
        None, RunOptions(resume=str(tmp_path / "cut"), plots=False), data=data
    ).metrics
    a, b = _weights(tmp_path / "full"), _weights(tmp_path / "cut")
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)
    assert resumed["test_accuracy"] == full["test_accuracy"]
    assert _rows(full) == _rows(resumed)


def test_ctrl_c_after_the_last_batch_of_an_epoch_keeps_that_epoch(tmp_path):
    data = blob_data(n_train=140)  # 100 training images: 5 batches per epoch
    cfg = tiny_config(shift=1)
    full = run_images(cfg, data=data).metrics
    with pytest.raises(Interrupted):
        run_images(cfg, RunOptions(out=str(tmp_path / "cut"), plots=False), data=data,
                   on_step=_ctrl_c_at(5))  # fmt: skip
    resumed = run_images(
        None, RunOptions(resume=str(tmp_path / "cut"), plots=False), data=data
    ).metrics
    assert _rows(resumed) == _rows(full)
    assert resumed["test_accuracy"] == full["test_accuracy"]


def test_resume_refuses_a_different_config(tmp_path):
    data = blob_data(n_train=100)
    cfg = tiny_config(epochs=1)
    first = run_images(cfg, RunOptions(out=str(tmp_path / "r"), plots=False), data=data).metrics
    with pytest.raises(ConfigError, match=r"the run was made with lr = 0\.01 \(given: 0\.5\)"):
        run_images(tiny_config(epochs=1, lr=0.5), RunOptions(resume=str(tmp_path / "r")), data=data)
    with pytest.raises(RunFolderError, match="no such folder"):
        run_images(None, RunOptions(resume=str(tmp_path / "empty")), data=data)
    # where the data are read from cannot change the numbers: a resume may change it
    moved = dataclasses.replace(cfg, data_dir=str(tmp_path / "elsewhere"), download=False)
    again = run_images(
        moved, RunOptions(resume=str(tmp_path / "r"), plots=False), data=data
    ).metrics
    assert again["test_accuracy"] == first["test_accuracy"]


def test_divergence_writes_its_status_and_keeps_a_finite_checkpoint(tmp_path):
    data = blob_data(n_train=100)
    with pytest.raises(Diverged):
        run_images(tiny_config(lr=1e30), RunOptions(out=str(tmp_path / "r"), plots=False),
                   data=data)  # fmt: skip
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert metrics["status"] == "diverged" and metrics["phase"] == "train"
    weights = _weights(tmp_path / "r")
    assert weights and all(bool(torch.isfinite(w).all()) for w in weights.values())
    model = build_image_model(tiny_config(lr=1e30), (28, 28), 10, torch.Generator())
    model.load_state_dict(weights)  # the kept checkpoint is a model that loads


def test_logistic_baseline_trains(tmp_path):
    metrics = run_images(
        tiny_config(model="logistic", epochs=3),
        RunOptions(out=str(tmp_path / "lr"), plots=False),
        data=blob_data(),
    ).metrics
    assert metrics["test_accuracy"] >= 0.9
    assert metrics["n_parameters"] == 7850


# -- command line --------------------------------------------------------------------------
@pytest.fixture
def tiny_mnist(tmp_path, monkeypatch):
    """``mnist`` re-registered with the md5 sums of a tiny blob set, cache under tmp_path."""
    data = blob_data(n_train=140, n_test=40)
    arrays = {
        "train_images": data.train_images,
        "train_labels": data.train_labels.astype(np.uint8),
        "test_images": data.test_images,
        "test_labels": data.test_labels.astype(np.uint8),
    }
    spec = dataclasses.replace(images_mod.DATASETS["mnist"], md5=md5s(arrays, tmp_path))
    monkeypatch.setitem(images_mod.DATASETS, "mnist", spec)
    monkeypatch.setenv("HAMNETS_DATA", str(tmp_path / "cache"))
    return write_set(tmp_path / "src", arrays, compress=True)


def test_cli_classify_mnist_evaluate_and_resume(tmp_path, tiny_mnist, capsys):
    import json

    from hamnets.cli import main

    out = tmp_path / "run"
    flags = ["--layers", "2", "--epochs", "1", "--batch-size", "20", "--val-size", "40"]
    code = main(
        [
            "classify",
            "--dataset",
            "mnist",
            "--model",
            "MS1",
            *flags,
            "--data-dir",
            str(tiny_mnist),
            "--out",
            str(out),
            "--quiet",
            "--no-download",
            "--no-plots",
        ]
    )
    assert code == 0
    config = json.loads((out / "config.json").read_text())
    assert (config["model"], config["layers"], config["epochs"]) == ("MS1", 2, 1)
    assert (config["h"], config["weight_decay"], config["alpha"]) == (0.4, 1e-3, 1e-3)
    assert (config["lr"], config["batch_size"], config["nf"]) == (0.04, 20, 8)
    metrics = json.loads((out / "metrics.json").read_text())
    assert "test accuracy" in capsys.readouterr().out
    # the data are now cached: evaluate needs no folder
    assert main(["evaluate", str(out)]) == 0
    text = capsys.readouterr().out
    assert f"test accuracy {metrics['test_accuracy']:.2%}" in text
    assert main(["classify", "--resume", str(out), "--quiet", "--no-plots"]) == 0


def test_cli_classify_mnist_refuses_h_and_t_end(tmp_path, tiny_mnist, capsys):
    from hamnets.cli import main

    with pytest.raises(SystemExit) as info:
        main(
            [
                "classify",
                "--dataset",
                "mnist",
                "--h",
                "0.1",
                "--t-end",
                "1",
                "--out",
                str(tmp_path / "r"),
            ]
        )
    assert info.value.code == 2
    assert "give --h or --t-end, not both" in capsys.readouterr().err


def test_cli_classify_mnist_says_which_command_to_run(tmp_path, monkeypatch, capsys):
    from hamnets.cli import main

    monkeypatch.setenv("HAMNETS_DATA", str(tmp_path / "empty-cache"))
    with pytest.raises(SystemExit) as info:
        main(["classify", "--dataset", "mnist", "--no-download", "--out", str(tmp_path / "r")])
    assert info.value.code == 2
    assert "hamnets data mnist --dir FOLDER" in capsys.readouterr().err
