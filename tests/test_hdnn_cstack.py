"""MS1's C stack (hamnets.hdnn._cstack) against the fused node's torch path and the plain layer
loop: outputs and gradients to float32 rounding, its tanh against float64, the threads' split,
the build and its fallback."""

from __future__ import annotations

import contextlib
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from hamnets.hdnn import _cstack, build_hdnn

needs_c = pytest.mark.skipif(_cstack.ms1_library() is None, reason="no C compiler here")


@contextlib.contextmanager
def _threads(n: int):
    """torch's thread count set to ``n`` for the block (restored after)."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _rel(new: torch.Tensor, old: torch.Tensor) -> float:
    return float((new - old).norm() / old.norm())


def _run(model, y, weight, *, fused: bool, use_c: bool) -> list[torch.Tensor]:
    model.fused, model.use_c = fused, use_c
    model.zero_grad(set_to_none=True)
    y = y.detach().clone().requires_grad_(True)
    out = model.forward_channels_first(y)
    (out * weight).sum().backward()
    return [out.detach(), y.grad, model.K.grad, model.b.grad]


def _case(nf: int, n_layers: int, n_cols: int, t_end: float, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    model = build_hdnn("MS1", nf, n_layers, t_end, generator=gen)
    model.fused_min_layers = 1  # the fused node whatever the size
    model.numpy_max_columns = 0  # never the numpy path
    y = torch.randn(nf, n_cols, generator=gen)
    weight = torch.randn(nf, n_cols, generator=gen)
    return model, y, weight


@needs_c
@pytest.mark.parametrize(
    "nf, n_layers, n_cols, t_end",
    [(8, 4, 5000, 1.6), (4, 16, 777, 1.2), (6, 3, 64, 0.9), (16, 5, 1000, 2.0), (2, 2, 1, 1.0)],
)
def test_c_stack_equals_the_torch_path_and_the_loop(nf, n_layers, n_cols, t_end):
    model, y, weight = _case(nf, n_layers, n_cols, t_end)
    c = _run(model, y, weight, fused=True, use_c=True)
    torch_path = _run(model, y, weight, fused=True, use_c=False)
    loop = _run(model, y, weight, fused=False, use_c=False)
    for new, a, b in zip(c, torch_path, loop, strict=True):
        assert _rel(new, a) < 1e-5 and _rel(new, b) < 1e-5, (_rel(new, a), _rel(new, b))
    # the C stack ran (the torch path's numbers differ from it in their last bits)
    assert any(not torch.equal(new, a) for new, a in zip(c, torch_path, strict=True))


@needs_c
def test_c_stack_against_float64():
    """The C stack's error against the loop in float64 is no larger than the torch path's."""
    model, y, weight = _case(8, 4, 3000, 1.6, seed=1)
    c = _run(model, y, weight, fused=True, use_c=True)
    torch_path = _run(model, y, weight, fused=True, use_c=False)
    exact = _run(model.double(), y.double(), weight.double(), fused=False, use_c=False)
    for new, old, ref in zip(c, torch_path, exact, strict=True):
        assert _rel(new.double(), ref) < max(3 * _rel(old.double(), ref), 1e-6)


@needs_c
def test_threads_split_the_columns_and_add_the_gradients():
    model, y, weight = _case(8, 4, 20000, 1.6, seed=2)
    with _threads(1):
        one = _run(model, y, weight, fused=True, use_c=True)
    with _threads(2):
        assert len(_cstack._ranges(20000)) == 2
        two = _run(model, y, weight, fused=True, use_c=True)
    assert torch.equal(one[0], two[0]) and torch.equal(one[1], two[1])  # per column: the same
    for a, b in zip(one[2:], two[2:], strict=True):  # sums in another order
        assert _rel(a, b) < 1e-6


def test_ranges_cover_the_columns_in_whole_blocks():
    for t, n in [(1, 100), (2, 100), (2, 20000), (3, 50001), (8, 8192 * 8 + 5)]:
        with _threads(t):
            ranges = _cstack._ranges(n)
        assert ranges[0][0] == 0 and sum(c for _, c in ranges) == n
        assert all(s % 64 == 0 for s, _ in ranges)
        assert all(a + c == b for (a, c), (b, _) in zip(ranges, ranges[1:], strict=False))
        assert len(ranges) <= t


@needs_c
def test_retain_graph_and_two_graphs_alive():
    """The activations buffer of a graph is its own until that graph is freed."""
    model, y, weight = _case(8, 4, 3000, 1.6, seed=3)
    model.use_c = True
    y1 = y.clone().requires_grad_(True)
    y2 = (2 * y).requires_grad_(True)
    out1, out2 = model.forward_channels_first(y1), model.forward_channels_first(y2)
    (out2 * weight).sum().backward(retain_graph=True)
    g2 = y2.grad.clone()
    (out1 * weight).sum().backward()
    y2.grad = None
    (out2 * weight).sum().backward()
    assert torch.equal(y2.grad, g2)
    model.use_c = False
    y1.grad = None
    (model.forward_channels_first(y1) * weight).sum().backward()
    ref = y1.grad.clone()
    model.use_c = True
    y1.grad = None
    (model.forward_channels_first(y1) * weight).sum().backward()
    assert _rel(y1.grad, ref) < 1e-5


@needs_c
def test_no_grad_forward_and_nan():
    model, y, _ = _case(8, 4, 300, 1.6, seed=4)
    model.fused, model.use_c = True, True
    with torch.no_grad():
        out = model.forward_channels_first(y)
        y_nan = y.clone()
        y_nan[0, 5] = float("nan")
        out_nan = model.forward_channels_first(y_nan)
    model.use_c = False
    with torch.no_grad():
        assert _rel(out, model.forward_channels_first(y)) < 1e-5
    assert torch.isnan(out_nan[:, 5]).all() and not torch.isnan(out_nan[:, 6:]).any()


def _ulps(got: np.ndarray, exact: np.ndarray) -> np.ndarray:
    """|got - exact| in units of the float32 spacing at the rounded exact value."""
    rounded = exact.astype(np.float32)
    spacing = np.spacing(np.abs(rounded)).astype(np.float64)
    return np.abs(got.astype(np.float64) - exact) / spacing


@needs_c
def test_tanh_within_two_ulp_everywhere():
    # every 331st float32 from 0 to 12 (where tanh rounds to 1), and their negatives
    bits = np.arange(0, np.float32(12).view(np.int32), 331, dtype=np.int32)
    x = np.concatenate([bits.view(np.float32), -bits.view(np.float32)])
    got = _cstack.tanh(torch.from_numpy(x)).numpy()
    err = _ulps(got, np.tanh(x.astype(np.float64)))
    assert err.max() <= 2.0, (err.max(), x[err.argmax()])
    assert np.mean(err <= 0.5) > 0.9  # mostly correctly rounded
    # small arguments keep their relative accuracy (2 sigmoid(2x) - 1 returns 0 at 1e-8)
    tiny = torch.tensor([1e-8, -1e-8, 1e-30, 1e-40, 0.0, -0.0])
    out = _cstack.tanh(tiny)
    assert torch.equal(out, tiny) and math.copysign(1, out[5].item()) == -1.0
    special = _cstack.tanh(torch.tensor([float("inf"), -float("inf"), float("nan"), 30.0]))
    assert special[:2].tolist() == [1.0, -1.0] and math.isnan(special[2]) and special[3] == 1


def test_build_into_a_cache_folder_once(tmp_path, monkeypatch, capsys):
    if _cstack.ms1_library() is None:
        pytest.skip("no C compiler here")
    source = tmp_path / "tiny.c"  # (the stack itself takes seconds to compile)
    source.write_text("int tiny(int x) { return 2 * x; }\n")
    cache = tmp_path / "cache"
    first = _cstack.build(source, cache=cache)
    assert capsys.readouterr().err.startswith("hamnets: compiling tiny.c")  # said once
    stamp = first.stat().st_mtime_ns
    assert first.parent == cache and first.suffix == ".so" and first.stem.startswith("tiny-")
    assert _cstack.build(source, cache=cache) == first and first.stat().st_mtime_ns == stamp
    assert capsys.readouterr().err == ""
    assert sorted(p.suffix for p in cache.iterdir()) == [".lock", ".so"]  # no temporary file
    source.write_text("int tiny(int x) { return 3 * x; }\n")  # another source: another file
    assert _cstack.build(source, cache=cache) != first
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert _cstack._cache_dir() == tmp_path / "xdg" / "hamnets" / "kernels"


@needs_c
def test_a_damaged_library_in_the_cache_is_built_again(tmp_path):
    source = tmp_path / "tiny.c"
    source.write_text("int tiny(int x) { return 2 * x; }\n")
    built = _cstack.build(source, cache=tmp_path)
    built.write_bytes(b"not a shared library")  # (as a full disk would leave it)
    assert _cstack.load(source, cache=tmp_path).tiny(21) == 42
    assert built.read_bytes()[:4] == b"\x7fELF"  # compiled again


def test_without_a_compiler_the_torch_path_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("CC", str(tmp_path / "no-such-compiler"))
    with pytest.raises(OSError):
        _cstack.build(cache=tmp_path)
    monkeypatch.setattr(_cstack, "ms1_library", lambda: None)
    model, y, weight = _case(8, 4, 500, 1.6, seed=5)
    assert not model._c_stack(y, model._fused_params())
    c_asked = _run(model, y, weight, fused=True, use_c=True)
    torch_path = _run(model, y, weight, fused=True, use_c=False)
    for a, b in zip(c_asked, torch_path, strict=True):
        assert torch.equal(a, b)


def _classifier_run(use_c: bool, images, labels, stages: int = 1, fused_min_columns=None):
    from hamnets.vision._classifier import HDNNImageClassifier

    gen = torch.Generator().manual_seed(7)
    model = HDNNImageClassifier(
        "MS1", 4, 0.4, channels=8, image_size=(12, 10), generator=gen, stages=stages
    )
    for pixelwise in (model.hamiltonian, *(block.hamiltonian for block in model.more)):
        pixelwise.hdnn.use_c = use_c
        pixelwise.hdnn.fused_min_columns = 1  # the fused node (and the C stack) at any size
    logits = model(images)
    (F.cross_entropy(logits, labels) + model.regularizer(1e-3)).backward()
    return [logits.detach()] + [p.grad for p in model.parameters()]


@needs_c
@pytest.mark.parametrize("stages", [1, 2])
def test_classifier_conv_and_stack_in_c_equal_the_torch_path(stages, monkeypatch):
    """The first stage (conv + MS1) as one C node: logits and every gradient, the
    convolution's included, within float32 rounding of the torch path's."""
    from hamnets.vision import _conv_stack

    gen = torch.Generator().manual_seed(8)
    images = torch.randn(37, 1, 12, 10, generator=gen)  # 4440 pixels: not whole blocks
    labels = torch.randint(0, 10, (37,), generator=gen)
    ran = []
    real = _conv_stack._ConvStack.apply
    monkeypatch.setattr(_conv_stack._ConvStack, "apply", lambda *a: ran.append(1) or real(*a))
    c = _classifier_run(True, images, labels, stages)
    assert ran == [1]
    torch_path = _classifier_run(False, images, labels, stages)
    assert len(ran) == 1  # (use_c False: the torch path)
    for new, old in zip(c, torch_path, strict=True):
        assert _rel(new, old) < 1e-5, _rel(new, old)


@needs_c
def test_classifier_conv_stack_no_grad_and_threads():
    gen = torch.Generator().manual_seed(9)
    images = torch.randn(300, 1, 12, 10, generator=gen)  # 36000 pixels: two threads' worth
    labels = torch.randint(0, 10, (300,), generator=gen)
    with _threads(1):
        one = _classifier_run(True, images, labels)
    with _threads(2):
        two = _classifier_run(True, images, labels)
    for a, b in zip(one, two, strict=True):
        assert _rel(a, b) < 1e-6
    from hamnets.vision._classifier import HDNNImageClassifier

    model = HDNNImageClassifier("MS1", 4, 0.4, image_size=(12, 10), generator=gen)
    model.hdnn.fused_min_columns = 1
    with torch.no_grad():
        fast = model(images[:20])
    model.hdnn.use_c = False
    with torch.no_grad():
        assert _rel(fast, model(images[:20])) < 1e-5


@needs_c
def test_threads_after_fork():
    """A forked child (a DataLoader worker, multiprocessing) gets a pool of its own."""
    import multiprocessing

    model, y, weight = _case(8, 4, 20000, 1.6, seed=6)
    with _threads(2):
        parent = _run(model, y, weight, fused=True, use_c=True)[0]
        with multiprocessing.get_context("fork").Pool(1) as pool:
            child = pool.apply_async(_forward_in_child, (model, y)).get(timeout=60)
    assert np.array_equal(parent.numpy(), child)


def _forward_in_child(model, y) -> np.ndarray:
    torch.set_num_threads(2)
    with torch.no_grad():  # (numpy back: a tensor would travel through torch's shared memory)
        return model.forward_channels_first(y).numpy()


def test_make_installs_kernels_or_says_what_runs_instead(tmp_path, monkeypatch, capsys):
    from hamnets import _cbuild

    source = tmp_path / "tiny.c"
    source.write_text("int tiny(int x) { return 2 * x; }\n")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("CC", str(tmp_path / "no-such-compiler"))
    assert _cbuild.install(source, "the tiny kernel", "Python runs") == 1
    err = capsys.readouterr().err
    assert err.startswith("the tiny kernel cannot be built here (") and "Python runs" in err
