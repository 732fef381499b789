"""Data sets: toy 2D classification sets, MNIST (offline), trajectory sampling."""

from ._idx import read_idx, read_idx_bytes, write_idx
from ._mnist import (
    DATASETS,
    ROLES,
    IdxDataset,
    ImageData,
    data_root,
    fetch_dataset,
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
