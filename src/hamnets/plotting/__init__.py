"""Plots: every function takes an ``ax`` and returns it; matplotlib is imported lazily."""

from ._hnn import hnn_figure, plot_energy, plot_phase, save_figure

__all__ = ["hnn_figure", "plot_energy", "plot_phase", "save_figure"]
