"""Plots. Every function draws on an explicit ``ax`` and returns it; matplotlib is lazy."""

from ._mnist import image_grid, plot_confusion, plot_misclassified

__all__ = ["image_grid", "plot_confusion", "plot_misclassified"]
