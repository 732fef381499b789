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

__all__ = [
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
