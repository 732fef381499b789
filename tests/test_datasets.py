"""Toy 2D data sets: sizes, balance, determinism, padding, and refusal of bad data."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hamnets.datasets import (
    TOY2D_NAMES,
    check_classification_data,
    double_circles,
    make_toy2d,
    pad_features,
    swiss_roll,
)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("name", TOY2D_NAMES)
def test_sizes_balance_and_padding(name):
    data = make_toy2d(name, nf=4, generator=gen())
    assert data.x_train.shape == (4000, 4) and data.x_test.shape == (4000, 4)
    assert data.y_train.shape == (4000,) and data.y_test.shape == (4000,)
    assert set(torch.unique(data.y_train).tolist()) == {0.0, 1.0}
    total = torch.cat([data.y_train, data.y_test])
    assert float(total.sum()) == 4000.0  # 8000 points, exactly half of each class
    assert 0.45 < float(data.y_train.mean()) < 0.55
    # features 1 and 2 are zero padding; x1 sits in feature 0, x2 in feature 3
    assert float(data.x_train[:, 1:3].abs().max()) == 0.0
    x1min, x1max, x2min, x2max = data.domain
    assert float(data.x_train[:, 0].min()) >= x1min and float(data.x_train[:, 0].max()) <= x1max
    assert float(data.x_train[:, 3].min()) >= x2min and float(data.x_train[:, 3].max()) <= x2max


@pytest.mark.parametrize("name", TOY2D_NAMES)
def test_same_seed_same_data_other_seed_other_order(name):
    a, b, c = (make_toy2d(name, generator=gen(s)) for s in (3, 3, 4))
    torch.testing.assert_close(a.x_train, b.x_train)
    torch.testing.assert_close(a.y_test, b.y_test)
    assert not torch.equal(a.x_train, c.x_train)


def test_swiss_roll_geometry():
    data = swiss_roll(8000, nf=2, generator=gen())
    x = torch.cat([data.x_train, data.x_test])
    y = torch.cat([data.y_train, data.y_test])
    r = x.norm(dim=1)
    # inner arm (label 1) radii 0..1, outer arm (label 0) radii 0.2..1.2, no noise
    assert float(r[y == 1].max()) == pytest.approx(1.0, abs=1e-6)
    assert float(r[y == 0].min()) == pytest.approx(0.2, abs=1e-6)
    assert float(r[y == 0].max()) == pytest.approx(1.2, abs=1e-6)


def test_double_circles_radii_and_noise():
    data = double_circles(nf=2, generator=gen())
    x = torch.cat([data.x_train, data.x_test])
    y = torch.cat([data.y_train, data.y_test])
    r = x.norm(dim=1)
    # noise of at most 0.3 per coordinate moves a point by at most 0.3 * sqrt(2) radially
    assert float(r.min()) > 1 - 0.43 and float(r.max()) < 4 + 0.43
    assert float(r[(y == 0)].max()) < 3.43 and float(r[y == 1].min()) > 2 - 0.43


def test_custom_input_features():
    data = make_toy2d("double_moons", nf=16, input_features=(0, 12), generator=gen())
    nonzero = (data.x_train.abs().sum(0) > 0).nonzero().flatten().tolist()
    assert nonzero == [0, 12]


def test_pad_features_rejects_bad_positions():
    with pytest.raises(ValueError, match="two different feature indices"):
        pad_features(torch.zeros(3, 2), 4, (1, 1))
    with pytest.raises(ValueError, match=r"\[0, 3\]"):
        pad_features(torch.zeros(3, 2), 4, (0, 4))


def test_unknown_dataset_lists_choices():
    with pytest.raises(ValueError, match="swiss_roll, double_circles, double_moons"):
        make_toy2d("spiral")


def test_bad_data_is_refused():
    x = torch.zeros(4, 2)
    with pytest.raises(ValueError, match="NaN/inf"):
        check_classification_data(
            torch.tensor([[0.0, 1.0], [float("nan"), 0.0]]), torch.tensor([0.0, 1.0])
        )
    with pytest.raises(ValueError, match="labels must be 0 or 1"):
        check_classification_data(x, torch.tensor([0.0, 1.0, 2.0, 0.0]))
    with pytest.raises(ValueError, match=r"shape \(4,\)"):
        check_classification_data(x, torch.zeros(3))
    with pytest.raises(ValueError, match="shape"):
        check_classification_data(torch.zeros(4), torch.zeros(4))


def test_user_csv_and_npz(tmp_path):
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(40, 2))
    labels = (pts[:, 0] > 0).astype(float)
    csv = tmp_path / "mine.csv"
    np.savetxt(
        csv, np.column_stack([pts, labels]), delimiter=",", header="x1,x2,label", comments=""
    )
    data = make_toy2d(str(csv), nf=4, generator=gen())
    assert data.x_train.shape == (20, 4) and data.name == "mine"
    npz = tmp_path / "mine.npz"
    np.savez(npz, x=pts, y=labels)
    assert make_toy2d(str(npz), generator=gen()).x_test.shape == (20, 4)
    pts[3, 1] = np.inf
    np.savetxt(csv, np.column_stack([pts, labels]), delimiter=",")
    with pytest.raises(ValueError, match="NaN/inf.*sample 3"):
        make_toy2d(str(csv))
    (tmp_path / "two.csv").write_text("1,2\n3,4\n")
    with pytest.raises(ValueError, match="3 columns"):
        make_toy2d(str(tmp_path / "two.csv"))
