"""Data sets: toy 2D classification sets, MNIST (offline), trajectory sampling."""

from ._fetch import data_root, fetch_dataset
from ._idx import read_idx, read_idx_bytes, write_idx
from ._images import (
    DATASETS,
    ROLES,
    IdxDataset,
    ImageData,
    load_dataset,
    locate_idx_files,
    read_image_folder,
)
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
    "read_idx",
    "read_idx_bytes",
    "write_idx",
    "DATASETS",
    "ROLES",
    "IdxDataset",
    "ImageData",
    "data_root",
    "fetch_dataset",
    "load_dataset",
    "locate_idx_files",
    "read_image_folder",
]
