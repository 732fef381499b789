"""Run one training of the reference H-DNN code (DecodEPFL/HamiltonianNet) and print JSON.

Usage: python _reference_hdnn.py REF_DIR MODEL DATASET LAYERS T_END SEED

The reference code is not part of this repository; point REF_DIR at a checkout of it. Two
run-time adaptations make it run on current PyTorch without changing what it computes:
Adam's step counter, which the reference overwrites with a Python int, is turned back into a
tensor before each step; and H2's forward, which updates halves of a tensor in place (an
error for autograd today), is replaced by the same arithmetic written out of place.
"""

from __future__ import annotations

import json
import sys
import time
import types

import torch


class _TensorStepAdam(torch.optim.Adam):
    def step(self, closure=None):
        for state in self.state.values():
            if "step" in state and not torch.is_tensor(state["step"]):
                state["step"] = torch.tensor(float(state["step"]))
        return super().step(closure)


def _h2_forward_out_of_place(self, Y0, ini=0, end=None):
    end = self.n_layers if end is None else end
    n = self.nf // 2
    Y = Y0.transpose(1, 2)  # (N, 1, nf)
    first, second = Y[..., :n], Y[..., n:]
    for j in range(ini, end):
        K = self.K[:, :, j] * self.mask
        Ka, Kb = K[:n, :n], K[n:, n:]
        second = second + self.h * torch.tanh(first @ Ka + self.b[:n, 0, j]) @ Ka.T
        first = first - self.h * torch.tanh(second @ Kb + self.b[n:, 0, j]) @ Kb.T
    return torch.cat([first, second], -1).transpose(1, 2)


def main() -> None:
    ref_dir, model, dataset, layers, t_end, seed = sys.argv[1:7]
    torch.set_num_threads(1)
    torch.optim.Adam = _TensorStepAdam
    try:
        import scipy.sparse  # noqa: F401  (only the reference's MS2 needs it)
    except ImportError:
        stub = types.ModuleType("scipy.sparse")
        stub.coo_matrix = None
        sys.modules["scipy"] = types.ModuleType("scipy")
        sys.modules["scipy.sparse"] = stub
    sys.path.insert(0, ref_dir)
    from examples.train_2d_example import train_2d_example
    from integrators import integrators

    integrators.H2.forward = _h2_forward_out_of_place
    cpu0, wall0 = time.process_time(), time.perf_counter()
    out = train_2d_example(dataset, model, 4, int(layers), float(t_end), False, seed=int(seed))
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    train_acc, test_acc = float(out[2]), float(out[3])
    print(json.dumps({"model": model, "dataset": dataset, "layers": int(layers),
                      "t_end": float(t_end), "seed": int(seed), "train_accuracy": train_acc,
                      "test_accuracy": test_acc, "cpu_seconds": cpu, "wall_seconds": wall}))


if __name__ == "__main__":
    main()
