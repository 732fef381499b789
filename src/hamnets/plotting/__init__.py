"""Plots. Every function draws on an explicit ``ax`` and returns it; matplotlib is lazy."""

from ._classify import (
    new_figure,
    plot_decision_boundary,
    plot_propagation,
    propagation_figure,
    readout_basis,
    save_propagation_gif,
)
from ._gradients import (
    gradient_norms_figure,
    plot_bsm_entries,
    plot_depth_profiles,
    plot_gradient_norms,
    plot_trajectories,
    save_trajectories_gif,
)
from ._hnn import hnn_figure, plot_energy, plot_phase, save_figure
from ._mnist import image_grid, plot_confusion, plot_misclassified
from ._port import plot_energy_balance, plot_input, plot_port_phase

__all__ = [
    "new_figure",
    "plot_decision_boundary",
    "plot_propagation",
    "propagation_figure",
    "readout_basis",
    "save_propagation_gif",
    "gradient_norms_figure",
    "plot_bsm_entries",
    "plot_depth_profiles",
    "plot_gradient_norms",
    "plot_trajectories",
    "save_trajectories_gif",
    "hnn_figure",
    "plot_energy",
    "plot_phase",
    "save_figure",
    "plot_energy_balance",
    "plot_input",
    "plot_port_phase",
    "image_grid",
    "plot_confusion",
    "plot_misclassified",
]
