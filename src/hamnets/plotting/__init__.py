"""Plots. Every function draws on an explicit ``ax`` and returns it; matplotlib is lazy."""

from ._classify import (
    new_figure,
    plot_decision_boundary,
    plot_propagation,
    propagation_figure,
    readout_basis,
    save_propagation_gif,
)
from ._mnist import image_grid, plot_confusion, plot_misclassified

__all__ = [
    "new_figure",
    "plot_decision_boundary",
    "plot_propagation",
    "propagation_figure",
    "readout_basis",
    "save_propagation_gif",
    "image_grid",
    "plot_confusion",
    "plot_misclassified",
]
