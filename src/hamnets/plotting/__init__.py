"""Plots: every function takes an ``ax`` and returns it; matplotlib is imported lazily."""

from ._figure import new_figure, save_figure
from ._gradients import (
    plot_bsm_entries,
    plot_depth_profiles,
    plot_gradient_norms,
    plot_trajectories,
    save_trajectories_gif,
)

__all__ = [
    "new_figure",
    "save_figure",
    "plot_bsm_entries",
    "plot_depth_profiles",
    "plot_gradient_norms",
    "plot_trajectories",
    "save_trajectories_gif",
]
