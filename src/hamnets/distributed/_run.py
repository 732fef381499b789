"""Run a GraphH2 as one process per node and collect what the nodes computed."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch

from ..hdnn._graph import Graph
from ..hdnn._h2_graph import GraphH2
from ._launch import connect, launch
from ._link import NeighbourLink
from ._node import NodeH2


@dataclass(frozen=True)
class DistributedResult:
    """What :func:`run_graph_h2` brings back, laid out like the single-process model.

    Attributes:
        output: ``y_L`` of shape ``(batch, nf)``.
        input_grad: ``cotangent^T d y_L / d y_0``, ``(batch, nf)``; None without a cotangent.
        grads: gradients in :class:`~hamnets.hdnn.GraphH2`'s layout (``k_p``, ``k_q``:
            ``(L, nnz)``; ``b_p``, ``b_q``: ``(L, n)``); None without a cotangent.
        sent: tensors each node sent (forward and backward), ``(n,)``.
        contacted: for each node, the ranks it exchanged with.
    """

    output: torch.Tensor
    input_grad: torch.Tensor | None
    grads: dict[str, torch.Tensor] | None
    sent: tuple[int, ...]
    contacted: tuple[tuple[int, ...], ...]


def _node_main(rank: int, port: int, share_dir: str, timeout_s: float) -> None:
    """Body of node ``rank``'s process: it reads only its own share of weights and data."""
    torch.set_num_threads(1)
    share = torch.load(Path(share_dir) / f"node{rank}.pt", weights_only=True)
    graph = Graph.from_dict(share["graph"])
    group = connect(rank, graph.n_nodes, port, timeout_s=timeout_s)
    link = NeighbourLink(group, graph, rank)
    node = NodeH2(graph, rank, share["n_layers"], share["t_end"]).to(share["p"].dtype)
    node.load_state_dict(share["weights"])
    backward = share["lam_p"] is not None
    p = share["p"].requires_grad_(backward)
    q = share["q"].requires_grad_(backward)
    p_out, q_out = node(p, q, link)
    result = {"p": p_out.detach(), "q": q_out.detach(), "dp": None, "dq": None, "grads": None}
    if backward:
        # A vector-Jacobian product: the adjoints of the neighbours arrive through the link.
        ((share["lam_p"] * p_out).sum() + (share["lam_q"] * q_out).sum()).backward()
        result.update(dp=p.grad, dq=q.grad)
        result["grads"] = {name: t.grad for name, t in node.named_parameters()}
    result.update(sent=link.n_sent, contacted=tuple(sorted(link.contacted)))
    torch.save(result, Path(share_dir) / f"out{rank}.pt")
    link.close()


def run_graph_h2(
    model: GraphH2,
    y: torch.Tensor,
    cotangent: torch.Tensor | None = None,
    *,
    timeout_s: float = 120.0,
) -> DistributedResult:
    """Run ``model`` with one process per graph node (gloo over 127.0.0.1).

    Each process receives only its node's weights (:meth:`NodeH2.from_graph_h2`) and its
    node's features ``y[:, i]``, ``y[:, n + i]``, and talks only to its neighbours. With a
    ``cotangent`` the processes also run the backward pass, giving ``cotangent^T J`` for the
    input and every weight (the gradient of any loss ``L(y_L)`` is this with
    ``cotangent = dL/dy_L``).

    Args:
        model: the single-process model whose weights are shared out.
        y: inputs ``(batch, nf)``.
        cotangent: optional ``(batch, nf)``.
        timeout_s: the whole run, and every send/recv, gives up after this long.

    Returns:
        a :class:`DistributedResult` laid out like ``model``'s tensors.
    """
    n, nf = model.n_nodes, model.nf
    if y.dim() != 2 or y.shape[1] != nf:
        raise ValueError(f"run_graph_h2 expects y of shape (batch, {nf}), got {tuple(y.shape)}.")
    if cotangent is not None and cotangent.shape != y.shape:
        raise ValueError(
            f"cotangent must have the shape of y {tuple(y.shape)}, got {tuple(cotangent.shape)}."
        )
    y = y.detach().to(model.k_p.dtype)
    lam = None if cotangent is None else cotangent.detach().to(y.dtype)
    with tempfile.TemporaryDirectory(prefix="hamnets-nodes-") as tmp:
        for i in range(n):
            share = {
                "graph": model.graph.to_dict(),
                "n_layers": model.n_layers,
                "t_end": model.t_end,
                "weights": NodeH2.from_graph_h2(model, i).state_dict(),
                "p": y[:, i].clone(),
                "q": y[:, n + i].clone(),
                "lam_p": None if lam is None else lam[:, i].clone(),
                "lam_q": None if lam is None else lam[:, n + i].clone(),
            }
            torch.save(share, Path(tmp) / f"node{i}.pt")
        launch(_node_main, n, args=(tmp, timeout_s), timeout_s=timeout_s)
        outs = [torch.load(Path(tmp) / f"out{i}.pt", weights_only=True) for i in range(n)]

    output = torch.stack([o["p"] for o in outs] + [o["q"] for o in outs], 1)  # (batch, nf)
    input_grad, grads = None, None
    if lam is not None:
        input_grad = torch.stack([o["dp"] for o in outs] + [o["dq"] for o in outs], 1)
        k_p, k_q = torch.empty_like(model.k_p), torch.empty_like(model.k_q)  # (L, nnz)
        for i, o in enumerate(outs):
            k_p[:, model.node_slice(i)] = o["grads"]["k_p"]
            k_q[:, model.node_slice(i)] = o["grads"]["k_q"]
        grads = {
            "k_p": k_p,
            "k_q": k_q,
            "b_p": torch.stack([o["grads"]["b_p"] for o in outs], 1),  # (L, n)
            "b_q": torch.stack([o["grads"]["b_q"] for o in outs], 1),
        }
    return DistributedResult(
        output=output,
        input_grad=input_grad,
        grads=grads,
        sent=tuple(o["sent"] for o in outs),
        contacted=tuple(o["contacted"] for o in outs),
    )
