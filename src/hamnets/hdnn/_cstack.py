"""The C path of the fused MS1 stack: ``_ms1_stack.c`` (with ``_blocks.h``), built once per
machine and loaded.

The per-pixel MS1 stacks of the image classifier spend their time in memory traffic: the
torch path writes and reads several ``(n, N)`` blocks per half-step (a product, the bias,
``tanh``, the residual add; the backward's ``tanh_backward``, two products and a sum), each
a pass over all pixels. The C file runs all layers of one block of 64 pixels at once with the
block in L1 and keeps only the layers' activations for the backward, block after block in one
buffer (:func:`acts_shape`); the backward replays a block's states from them and walks its
layers in reverse. A 3x3 convolution in front of the stack (:class:`Conv`, the classifier's)
is computed block by block too. See ``benchmarks/speed.py`` for what it gains (1.4-1.6x the
torch path's training step of the MNIST classifier).

The file is compiled on first use with the system's C compiler (``$CC``, else ``cc``) into
``$XDG_CACHE_HOME/hamnets/kernels`` (``~/.cache/...``), named by a hash of the source, the
compiler's version and the flags, and loaded with :mod:`ctypes`. Where that fails (no
compiler, a read-only cache, not Linux/macOS) :func:`ms1_library` returns None and the fused
node keeps its torch path: the same numbers to float rounding, only slower (:func:`main`
builds it or says why not: ``python -c "import hamnets.hdnn._cstack as c; c.main()"``).

ctypes releases the GIL during a call: with ``torch.get_num_threads() > 1`` the columns are
split among that many threads (each with its own gradient sums, added at the end).
"""

from __future__ import annotations

import concurrent.futures
import ctypes
import functools
import os
import subprocess
from pathlib import Path

import torch

from .. import _cbuild
from .._cbuild import _cache_dir  # noqa: F401 (tests and callers read it here)

_SOURCE = Path(__file__).with_name("_ms1_stack.c")
#: below this many columns per thread, fewer threads (a thread's start costs about 50 us)
_MIN_COLUMNS_PER_THREAD = 8192
_P = 64  # pixels per block in the C file


def build(source: Path = _SOURCE, cache: Path | None = None) -> Path:
    """Compile ``source`` (default: the stack) once per machine
    (:func:`hamnets._cbuild.build`)."""
    return _cbuild.build(source, cache)


def load(source: Path = _SOURCE, cache: Path | None = None) -> ctypes.CDLL:
    """:func:`build`, then load it (a damaged file is built again, once)."""
    return _cbuild.load(source, cache)


@functools.cache
def ms1_library() -> ctypes.CDLL | None:
    """The loaded C stack (built on first use), or None where it cannot be built or loaded."""
    if not _cbuild.posix():
        return None
    try:
        lib = load()
    except (OSError, subprocess.SubprocessError):
        return None
    ptr, f32, i32, i64 = ctypes.c_void_p, ctypes.c_float, ctypes.c_int, ctypes.c_int64
    lib.ms1_forward.argtypes = [ptr, ptr, ptr, ptr, ptr, f32, i32, i32, i64, i64, ptr]
    lib.ms1_forward.restype = i32
    lib.ms1_backward.argtypes = [ptr, ptr, ptr, ptr, f32, i32, i32, i64, i64, *[ptr] * 7]
    lib.ms1_backward.restype = i32
    lib.ms1_tanh.argtypes = [ptr, ptr, i64]
    lib.ms1_tanh.restype = None
    return lib


def usable(nf: int, *tensors: torch.Tensor) -> bool:
    """Whether the C stack can run on ``nf`` channels (states and weights in ``tensors``)."""
    return (
        nf % 2 == 0
        and nf <= 128
        and all(t.device.type == "cpu" and t.dtype == torch.float32 for t in tensors)
        and ms1_library() is not None
    )


@functools.cache
def _pool(workers: int, pid: int) -> concurrent.futures.ThreadPoolExecutor:
    # per process (pid): a forked child inherits the pool but not its threads
    return concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="hamnets-ms1")


def _ranges(n_cols: int) -> list[tuple[int, int]]:
    """The column ranges ``(start, count)`` the threads take (one range on one thread)."""
    threads = max(1, min(torch.get_num_threads(), n_cols // _MIN_COLUMNS_PER_THREAD))
    # whole blocks of _P columns per thread, the remainder to the last
    step = -(-n_cols // threads // _P) * _P if threads > 1 else n_cols
    starts = list(range(0, n_cols, step))
    return [(s, min(step, n_cols - s)) for s in starts]


def _run(calls: list) -> None:
    if len(calls) == 1:
        calls[0]()
        return
    for f in [_pool(len(calls), os.getpid()).submit(c) for c in calls]:
        f.result()


def _check(status: int) -> None:
    if status != 0:
        raise MemoryError("the C MS1 stack could not allocate its block buffers")


def tanh(x: torch.Tensor) -> torch.Tensor:
    """The C stack's float32 ``tanh`` of a CPU tensor (what its layers use; for tests)."""
    x = x.detach().to(torch.float32).contiguous()
    out = torch.empty_like(x)
    ms1_library().ms1_tanh(x.data_ptr(), out.data_ptr(), x.numel())
    return out


def acts_shape(nf: int, n_cols: int, n_layers: int) -> tuple[int, int, int, int]:
    """The shape of the activations buffer :func:`forward` fills for :func:`backward`:
    ``(blocks, L, nf, 64)``, the ``n_cols`` columns in blocks of 64."""
    return (-(-n_cols // _P), n_layers, nf, _P)


class _ConvStruct(ctypes.Structure):  # the C file's conv_t
    _fields_ = [
        ("x", ctypes.c_void_p),
        ("stride", ctypes.c_int64),
        ("w", ctypes.c_void_p),
        ("b", ctypes.c_void_p),
        ("gw", ctypes.c_void_p),
        ("gb", ctypes.c_void_p),
        ("c_in", ctypes.c_int32),
        ("H", ctypes.c_int32),
        ("W", ctypes.c_int32),
        ("B", ctypes.c_int32),
        ("start", ctypes.c_int64),
    ]


class Conv:
    """A 3x3 convolution (stride 1, zero padding 1) in front of the stack: the stack's input is
    ``conv(x)``, computed block by block in C and never stored.

    Args:
        x: the input planes ``(c_in, H, W, B)`` (columns ``(h, w, b)``, as the stack's).
        weight: ``(nf, c_in, 3, 3)``; bias: ``(nf,)``.
    """

    def __init__(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> None:
        c_in, self.H, self.W, self.B = x.shape
        n_cols = self.H * self.W * self.B
        # zeros on either side: every tap of every block reads inside the buffer
        self.margin = (self.W + 1) * self.B + _P
        self.x = x.new_zeros(c_in, n_cols + 2 * self.margin)
        self.x[:, self.margin : self.margin + n_cols] = x.detach().reshape(c_in, n_cols)
        self.weight = weight.detach().reshape(weight.shape[0], -1).contiguous()  # (nf, 9 c_in)
        self.bias = bias.detach().contiguous()
        self.c_in = c_in

    def struct(self, start: int, gw: torch.Tensor | None = None, gb: torch.Tensor | None = None):
        """The C struct for a call on the columns from ``start`` on."""
        return _ConvStruct(
            self.x.data_ptr() + (self.margin + start) * self.x.element_size(),
            self.x.shape[1],
            self.weight.data_ptr(),
            self.bias.data_ptr(),
            None if gw is None else gw.data_ptr(),
            None if gb is None else gb.data_ptr(),
            self.c_in,
            self.H,
            self.W,
            self.B,
            start,
        )


def forward(
    y: torch.Tensor | None,
    out: torch.Tensor,
    K: torch.Tensor,
    b: torch.Tensor,
    h: float,
    acts: torch.Tensor | None = None,
    conv: Conv | None = None,
) -> None:
    """All MS1 layers on ``y`` ``(nf, N)`` (or on ``conv``'s output, ``y`` None) into ``out``
    ``(nf, N)`` (contiguous); ``K`` ``(L, n, n)``, ``b`` ``(L, nf)`` = ``[b_u; b_z]``;
    float32, on the CPU. With ``acts`` (:func:`acts_shape`, contiguous) the activations the
    backward reads go there."""
    lib, (nf, n_cols), n_layers = ms1_library(), out.shape, K.shape[0]
    K, b = K.detach().contiguous(), b.detach().contiguous()
    y = None if y is None else y.detach().contiguous()
    item, per_block = out.element_size(), n_layers * nf * _P

    def call(start: int, count: int):
        off = start * item
        at = None if acts is None else acts.data_ptr() + start // _P * per_block * item
        cv = None if conv is None else conv.struct(start)
        return lambda: _check(lib.ms1_forward(
            None if y is None else y.data_ptr() + off, out.data_ptr() + off, at,
            K.data_ptr(), b.data_ptr(), h, nf // 2, n_layers, n_cols, count,
            None if cv is None else ctypes.addressof(cv),
        ))  # fmt: skip

    _run([call(s, c) for s, c in _ranges(n_cols)])


def backward(
    y: torch.Tensor | None,
    K: torch.Tensor,
    b: torch.Tensor,
    h: float,
    g_out: torch.Tensor,
    acts: torch.Tensor | None = None,
    conv: Conv | None = None,
) -> tuple[torch.Tensor | None, ...]:
    """The backward of :func:`forward` from ``g_out = dL/dy_L`` ``(nf, N)``; returns
    ``(dL/dy, dL/dK, dL/db_z, dL/d(-K^T), dL/db_u)``: ``(nf, N)``, ``(L, n, n)``,
    ``(L, n, 1)``, ``(L, n, n)``, ``(L, n, 1)`` (the fused node's MS1 parameters); with
    ``conv``, ``dL/dy`` is None and the convolution's ``(dL/dweight, dL/dbias)``
    (``(nf, 9 c_in)``, ``(nf,)``) follow. Reads the activations the forward wrote into
    ``acts``; without them runs the forward again."""
    lib, (nf, n_cols), n_layers = ms1_library(), g_out.shape, K.shape[0]
    n = nf // 2
    K, b = K.detach().contiguous(), b.detach().contiguous()
    y = None if y is None else y.detach().contiguous()
    g_out = g_out.contiguous()
    g = torch.empty_like(g_out) if conv is None else None
    ranges = _ranges(n_cols)
    mats = g_out.new_empty(len(ranges), 2, n_layers, n, n)  # per thread: dL/dK, dL/d(-K^T)
    vecs = g_out.new_empty(len(ranges), 2, n_layers, n, 1)  # per thread: dL/db_z, dL/db_u
    taps = 0 if conv is None else 9 * conv.c_in
    gws = g_out.new_empty(len(ranges), nf, taps)  # per thread: the conv's dL/dweight
    gbs = g_out.new_empty(len(ranges), nf)  # and dL/dbias
    item, per_block = g_out.element_size(), n_layers * nf * _P

    def call(r: int, start: int, count: int):
        off = start * item
        at = None if acts is None else acts.data_ptr() + start // _P * per_block * item
        cv = None if conv is None else conv.struct(start, gws[r], gbs[r])
        return lambda: _check(lib.ms1_backward(
            None if y is None else y.data_ptr() + off, at, K.data_ptr(), b.data_ptr(), h, n,
            n_layers, n_cols, count, g_out.data_ptr() + off,
            None if g is None else g.data_ptr() + off, mats[r, 0].data_ptr(),
            vecs[r, 0].data_ptr(), mats[r, 1].data_ptr(), vecs[r, 1].data_ptr(),
            None if cv is None else ctypes.addressof(cv),
        ))  # fmt: skip

    _run([call(r, s, c) for r, (s, c) in enumerate(ranges)])
    if len(ranges) > 1:
        mats, vecs = mats.sum(0, keepdim=True), vecs.sum(0, keepdim=True)
        gws, gbs = gws.sum(0, keepdim=True), gbs.sum(0, keepdim=True)
    grads = (g, mats[0, 0], vecs[0, 0], mats[0, 1], vecs[0, 1])
    return grads if conv is None else (*grads, gws[0], gbs[0])


def main() -> int:
    """Build the C stack, or say why not (``make install`` calls it): 0 built, 1 not."""
    return _cbuild.install(_SOURCE, "MS1's C stack", "the torch path runs")
