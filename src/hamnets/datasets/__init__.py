"""Data sets: toy 2D classification sets, MNIST (offline), trajectory sampling."""

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

__all__: list[str] = [
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
