"""Data sets: toy 2D classification sets, MNIST (offline), trajectory sampling."""

from ._toy2d import (
    TOY2D_NAMES,
    Toy2D,
    check_classification_data,
    double_circles,
    double_moons,
    load_toy2d_file,
    make_toy2d,
    pad_features,
    swiss_roll,
)
from ._trajectories import (
    PROTOCOLS,
    SYSTEMS,
    TrajectoryData,
    TrajectoryProtocol,
    denoise_with_derivatives,
    reference_rollout,
    sample_initial_conditions,
    trajectory_data,
    tutorial_data,
)

__all__ = [
    "TOY2D_NAMES",
    "Toy2D",
    "check_classification_data",
    "double_circles",
    "double_moons",
    "load_toy2d_file",
    "make_toy2d",
    "pad_features",
    "swiss_roll",
    "PROTOCOLS",
    "SYSTEMS",
    "TrajectoryData",
    "TrajectoryProtocol",
    "denoise_with_derivatives",
    "reference_rollout",
    "sample_initial_conditions",
    "trajectory_data",
    "tutorial_data",
]
