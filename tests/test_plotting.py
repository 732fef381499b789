"""Plot functions draw on the Axes they are given, return it, and refuse wrong shapes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hamnets.plotting import (
    new_figure,
    plot_bsm_entries,
    plot_depth_profiles,
    plot_gradient_norms,
    plot_trajectories,
    save_trajectories_gif,
)


def test_plot_bsm_entries_draws_exact_and_fd() -> None:
    ax = new_figure()[1][0, 0]
    t = torch.linspace(0, 1, 11)
    bsm = torch.eye(2).expand(11, 2, 2)
    assert plot_bsm_entries(ax, t, bsm, bsm + 0.01) is ax
    assert len(ax.lines) == 4 * 2 + 1  # 4 exact, 4 FD, the zero line
    with pytest.raises(ValueError, match="shape"):
        plot_bsm_entries(ax, t, torch.zeros(10, 2, 2))


def test_plot_trajectories_with_zoom_and_save(tmp_path) -> None:
    fig, axes = new_figure()
    ax = axes[0, 0]
    theta = np.linspace(0, 6, 50)
    nominal = np.stack([np.cos(theta), np.sin(theta)], 1)
    assert plot_trajectories(ax, nominal, 1.05 * nominal[20:], title="x") is ax
    assert len(ax.child_axes) == 1  # the zoom inset
    fig.savefig(tmp_path / "t.png", dpi=30)
    assert (tmp_path / "t.png").read_bytes()[:4] == b"\x89PNG"


def test_save_trajectories_gif(tmp_path) -> None:
    nominal = np.stack([np.cos(np.linspace(0, 6, 30)), np.sin(np.linspace(0, 6, 30))], 1)
    runs = [nominal[-5:] * 1.1, nominal[-10:] * 1.1]
    save_trajectories_gif(tmp_path / "a.gif", nominal, runs, [0.5, 1.0], dpi=20)
    assert (tmp_path / "a.gif").read_bytes()[:6] == b"GIF89a"
    with pytest.raises(ValueError, match="same length"):
        save_trajectories_gif(tmp_path / "b.gif", nominal, runs, [0.5])


def test_plot_gradient_norms_and_depth_profiles() -> None:
    fig, axes = new_figure(2, 1)
    ax = axes[0, 0]
    norms = np.exp(np.random.default_rng(0).normal(size=(7, 5)))
    assert plot_gradient_norms(ax, np.arange(7), norms) is ax
    assert ax.get_yscale() == "log" and len(ax.lines) == 5 + 1
    with pytest.raises(ValueError, match="n_iter=7"):
        plot_gradient_norms(ax, np.arange(7), norms[1:])
    ax2 = axes[1, 0]
    assert plot_depth_profiles(ax2, {"MLP": norms[0], "H2": norms[1]}) is ax2
    assert [t.get_text() for t in ax2.get_legend().get_texts()] == ["MLP", "H2"]
    with pytest.raises(ValueError, match="L\\+1"):
        plot_depth_profiles(ax2, {"bad": norms})


def test_write_gif_draws_every_frame_once_and_keeps_the_layout(tmp_path):
    from matplotlib.layout_engine import ConstrainedLayoutEngine
    from PIL import Image

    from hamnets.plotting._classify import new_figure
    from hamnets.plotting._gif import write_gif

    fig, axes = new_figure(1, 2)
    (line,) = axes[0, 0].plot([0, 1], [0, 1])
    axes[0, 0].set_xlim(0, 3)
    seen = []

    def update(k: int) -> None:
        seen.append(k)
        line.set_xdata([0, k])
        axes[0, 0].set_title(f"frame {k}")

    path = write_gif(tmp_path / "a.gif", fig, update, [0, 1, 2], fps=4, dpi=40, freeze_layout=True)
    assert seen == [0, 1, 2]
    with Image.open(path) as im:
        assert im.n_frames == 3 and im.info["duration"] == 250
        im.seek(0)
        first = im.convert("RGB").copy()
        im.seek(2)
        last = im.convert("RGB").copy()
    assert first.size == last.size and first.tobytes() != last.tobytes()
    # laid out once, on the first frame (the constrained engine is then switched off)
    assert not isinstance(fig.get_layout_engine(), ConstrainedLayoutEngine)
    with pytest.raises(ValueError, match="at least one frame"):
        write_gif(tmp_path / "b.gif", fig, update, [], fps=4, dpi=40)
