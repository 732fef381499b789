"""Reading MNIST-format image sets: IDX files, the folders that hold them, their checks.
Everything runs on tiny synthetic files written here; no network, no real MNIST."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
from helpers import STEMS, tiny_arrays, write_set

from hamnets.datasets import (
    ROLES,
    locate_idx_files,
    read_idx,
    read_idx_bytes,
    read_image_folder,
    write_idx,
)


# -- IDX -----------------------------------------------------------------------------------
def test_idx_header_bytes_are_the_documented_format(tmp_path):
    path = write_idx(tmp_path / "x", np.arange(6, dtype=np.uint8).reshape(2, 3))
    data = path.read_bytes()
    assert data[:4] == bytes([0, 0, 0x08, 2])
    assert data[4:12] == bytes([0, 0, 0, 2, 0, 0, 0, 3])
    assert data[12:] == bytes(range(6))


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("dtype", ["u1", "i1", "i2", "i4", "f4", "f8"])
def test_idx_round_trip(tmp_path, compress, dtype):
    arr = (np.arange(24) - 7).reshape(2, 3, 4).astype(dtype)
    if dtype == "u1":
        arr = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    back = read_idx(write_idx(tmp_path / "a", arr, compress=compress))
    assert back.shape == (2, 3, 4)
    assert back.dtype == arr.dtype
    np.testing.assert_array_equal(back, arr)


def test_gzip_detected_by_content_not_name(tmp_path):
    arr = np.arange(10, dtype=np.uint8)
    path = tmp_path / "labels-no-suffix"
    path.write_bytes(gzip.compress(write_idx(tmp_path / "raw", arr).read_bytes()))
    np.testing.assert_array_equal(read_idx(path), arr)


def test_truncated_file_is_refused_naming_it(tmp_path):
    path = write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((5, 28, 28), np.uint8))
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte.*truncated.*3920.*3820"):
        read_idx(path)


def test_trailing_bytes_are_refused(tmp_path):
    path = write_idx(tmp_path / "f", np.zeros(4, np.uint8))
    path.write_bytes(path.read_bytes() + b"\x00")
    with pytest.raises(ValueError, match="trailing bytes"):
        read_idx(path)


def test_truncated_gzip_is_refused_naming_it(tmp_path):
    path = write_idx(tmp_path / "t10k.gz", np.zeros((50, 28, 28), np.uint8), compress=True)
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(ValueError, match=r"t10k\.gz.*gzip"):
        read_idx(path)


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (bytes([1, 0, 8, 1]), "bad IDX magic"),
        (bytes([0, 0, 0x42, 1]), "unknown IDX type 0x42"),
        (bytes([0, 0, 8, 0]), "0 dimensions"),
        (bytes([0, 0, 8, 3, 0, 0]), "truncated IDX header"),
        (b"\x00\x00", "not an IDX file"),
    ],
)
def test_bad_headers(header, message):
    with pytest.raises(ValueError, match=message):
        read_idx_bytes(header, name="bad-file")


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope"):
        read_idx(tmp_path / "nope")


# -- folders -------------------------------------------------------------------------------
@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("layout", [".", "MNIST/raw"])
def test_read_folder_layouts(tmp_path, compress, layout):
    arrays = tiny_arrays()
    write_set(tmp_path / layout, arrays, compress=compress)
    data = read_image_folder(tmp_path)
    assert data.train_images.shape == (30, 28, 28)
    assert data.test_images.shape == (10, 28, 28)
    assert data.train_labels.dtype == np.int64
    np.testing.assert_array_equal(data.train_images, arrays["train_images"])
    np.testing.assert_array_equal(data.test_labels, arrays["test_labels"])


def test_dotted_names_of_the_mnist_dir_package(tmp_path):
    for role, arr in tiny_arrays().items():
        write_idx(tmp_path / STEMS[role].replace("-idx", ".idx"), arr)
    assert set(locate_idx_files(tmp_path)) == set(ROLES)


def test_label_out_of_range_is_refused(tmp_path):
    arrays = tiny_arrays()
    arrays["train_labels"][3] = 10
    write_set(tmp_path, arrays)
    with pytest.raises(ValueError, match=r"label 10 out of range \[0, 10\)"):
        read_image_folder(tmp_path)


def test_count_mismatch_is_refused(tmp_path):
    arrays = tiny_arrays()
    arrays["test_labels"] = arrays["test_labels"][:-1]
    write_set(tmp_path, arrays)
    with pytest.raises(ValueError, match="10 images but 9 labels"):
        read_image_folder(tmp_path)


def test_missing_file_in_folder(tmp_path):
    write_set(tmp_path, tiny_arrays())
    (tmp_path / STEMS["test_labels"]).unlink()
    with pytest.raises(FileNotFoundError, match="four IDX files"):
        locate_idx_files(tmp_path)
