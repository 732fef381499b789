"""Learn the spring's Hamiltonian from noisy trajectories, roll it out, compare with the truth.

    python examples/hnn_spring.py                 # H(q, p) by a 2-200-200-1 network, Tsit5
    python examples/hnn_spring.py --separable     # H = T(p) + V(q), rolled out with leapfrog
    python examples/hnn_spring.py --small         # 64-wide networks, 300 steps

Measured on our 2-core CPU (one thread, seed 0), state MSE to t = 20 on the last line:
1.64e-3 in 6 s (energy MSE 6.2e-6); --separable 1.39e-3 in 13 s; --small 1.93e-2 in 3 s
(with --separable 1.45e-2 in 4 s).

The spring is H = q^2 + p^2 with x = [q, p]. The data are the protocol of Greydanus et al.
(2019): 25 training trajectories of 30 noisy states on [0, 3] and their clean derivatives.
A network H_theta is fitted so that its field J grad H_theta matches the derivatives; the
states are first denoised with those derivatives (`denoise_with_derivatives`). The learned
field is then integrated to t = 20 from the clean initial states of the 25 test trajectories
and compared with the exact solution. `hamnets hnn --system spring` does this with the
baseline, checkpoints and plots.
"""

import argparse

import torch

from hamnets.datasets import denoise_with_derivatives, trajectory_data
from hamnets.hnn import EnergyMLP, HamiltonianNN, SeparableHamiltonianNN
from hamnets.integrate import Leapfrog, Tsit5, odeint
from hamnets.systems import Spring

parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("--separable", action="store_true", help="learn T(p) + V(q); leapfrog")
parser.add_argument("--small", action="store_true", help="a reduced size, for the smoke test")
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()

hidden, steps = ((64, 64), 300) if args.small else ((200, 200), 1000)
lr = 6e-3
torch.set_num_threads(1)
g = torch.Generator().manual_seed(args.seed)  # the only source of randomness

# Data: (n_traj, 30, 2) states and derivatives; flattened to (25 * 30, 2) training pairs.
data = trajectory_data("spring", g)
states = denoise_with_derivatives(data.train_states, data.train_dxdt, data.t)
x, dxdt = data.flat(states), data.flat(data.train_dxdt)  # (750, 2), (750, 2)

# Model: f(x) = J grad H_theta(x), with H_theta a tanh MLP (or the sum of two, one per half).
if args.separable:
    model = SeparableHamiltonianNN(
        EnergyMLP(1, hidden, generator=g), EnergyMLP(1, hidden, generator=g)
    )
    solver = Leapfrog(dt=0.01)  # symplectic, order 2; needs H = T(p) + V(q)
else:
    model = HamiltonianNN(EnergyMLP(2, hidden, generator=g))
    solver = Tsit5(rtol=1e-6, atol=1e-8)  # adaptive, order 5
opt = torch.optim.Adam(model.parameters(), lr=lr)
sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps, eta_min=0.01 * lr)

for step in range(1, steps + 1):
    loss = (model(x) - dxdt).pow(2).mean()  # derivative regression, full batch
    opt.zero_grad()
    loss.backward()
    opt.step()
    sched.step()
    if step % (steps // 5) == 0:
        print(f"step {step:4d}/{steps}  derivative MSE {loss.item():.3e}")

# Roll out from the test trajectories' clean initial states and compare with the exact solution.
x0 = data.test_clean[:, 0]  # (25, 2)
t = torch.linspace(0.0, 20.0, 401)
with torch.no_grad():
    pred = odeint(model, x0, t, solver)  # (401, 25, 2)
true = Spring().solution(x0.double(), t.double())  # (401, 25, 2)
state_mse = (pred.double() - true).pow(2).mean().item()
energy = Spring().double().hamiltonian(pred.double().reshape(-1, 2)).reshape(401, 25)
energy_mse = (energy - energy[:1]).pow(2).mean().item()  # the true H along the learned rollout
print(
    f"{type(model).__name__} + {type(solver).__name__} to t = 20: state MSE {state_mse:.2e}, "
    f"energy MSE {energy_mse:.2e}"
)
