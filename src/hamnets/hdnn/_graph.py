"""Undirected graphs of agents for distributed H-DNNs, and their string specifications.

A :class:`Graph` has nodes ``0 .. n-1`` and undirected edges ``(i, j)`` with ``i < j``;
self-loops are implicit (every node sees its own state). It is built from a specification:

* ``ring:N``  (``N >= 3``) nodes ``i`` and ``i + 1 mod N`` are joined;
* ``line:N``  (``N >= 1``) nodes ``i`` and ``i + 1`` are joined;
* ``grid:RxC`` (``R, C >= 1``) node ``r C + c`` is joined to its right and lower neighbours;
* ``full:N``  (``N >= 1``) every pair is joined;
* ``file:PATH`` an edge-list file: one ``i j`` pair (0-based) per line, ``#`` starts a comment,
  and an optional line ``nodes N`` declares nodes beyond the largest index. Node ids must run
  ``0 .. N-1`` with every node on an edge: a node no edge touches is usually a typo
  (``2 99`` for ``2 9``) and is refused, naming it, unless the file declares ``nodes N`` or
  ``allow_isolated`` is set.

The specification string and the edge list are both stored (:meth:`Graph.to_dict`), so a saved
configuration restores the same topology without the file.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

__all__ = ["Graph", "parse_graph", "GRAPH_KINDS"]

GRAPH_KINDS = ("ring:N", "line:N", "grid:RxC", "full:N", "file:PATH")
#: the most nodes a graph may have: nf = 2 N features, so the dense weights hold 4 N^2 entries
#: per layer (the 2D tasks' nf cap is the same bound).
MAX_NODES = 512


@dataclass(frozen=True)
class Graph:
    """An undirected graph with nodes ``0 .. n_nodes - 1`` (self-loops implicit).

    Attributes:
        n_nodes: number of nodes.
        edges: sorted tuple of ``(i, j)`` pairs with ``0 <= i < j < n_nodes``, no duplicates.
        spec: the specification it was built from (for the record; ``""`` if built by hand).
    """

    n_nodes: int
    edges: tuple[tuple[int, int], ...]
    spec: str = ""

    def __post_init__(self) -> None:
        n = self.n_nodes
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise ValueError(f"a graph needs n_nodes >= 1, got n_nodes={n!r}.")
        edges = tuple((int(i), int(j)) for i, j in self.edges)
        for i, j in edges:
            if not (0 <= i < j < n):
                raise ValueError(
                    f"edge ({i}, {j}) is not a pair 0 <= i < j < {n}; list each undirected edge "
                    f"once with the smaller node first (self-loops are implicit)."
                )
        if len(set(edges)) != len(edges) or list(edges) != sorted(edges):
            raise ValueError("edges must be sorted and without duplicates; use Graph.from_edges.")
        object.__setattr__(self, "edges", edges)

    # -- construction ------------------------------------------------------------------------
    @classmethod
    def from_edges(cls, n_nodes: int, edges: Any, spec: str = "") -> Graph:
        """Build a graph from pairs in any order or direction (duplicates merged).

        Raises:
            ValueError: on a self-loop, a negative index or an index ``>= n_nodes``.
        """
        seen: set[tuple[int, int]] = set()
        for e in edges:
            i, j = (int(v) for v in e)
            if i == j:
                raise ValueError(
                    f"edge ({i}, {j}) is a self-loop; self-loops are implicit, drop the edge."
                )
            if min(i, j) < 0 or max(i, j) >= n_nodes:
                raise ValueError(
                    f"edge ({i}, {j}) names a node outside 0 .. {n_nodes - 1} (n_nodes={n_nodes})."
                )
            seen.add((min(i, j), max(i, j)))
        return cls(n_nodes, tuple(sorted(seen)), spec)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description: ``{"spec", "n_nodes", "edges"}``."""
        return {"spec": self.spec, "n_nodes": self.n_nodes, "edges": [list(e) for e in self.edges]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Graph:
        """Inverse of :meth:`to_dict` (the edge list is used; the file is not re-read)."""
        return cls.from_edges(int(d["n_nodes"]), d["edges"], str(d.get("spec", "")))

    # -- queries -----------------------------------------------------------------------------
    def neighbours(self, i: int) -> tuple[int, ...]:
        """Sorted neighbours of node ``i``, **without** ``i`` itself."""
        if not 0 <= i < self.n_nodes:
            raise ValueError(f"node {i} is not in 0 .. {self.n_nodes - 1}.")
        out = {b for a, b in self.edges if a == i} | {a for a, b in self.edges if b == i}
        return tuple(sorted(out))

    def closed_neighbours(self, i: int) -> tuple[int, ...]:
        """Sorted ``N(i) + {i}``: the nodes whose weights meet node ``i``'s in one product."""
        return tuple(sorted((*self.neighbours(i), i)))

    def adjacency(self, self_loops: bool = True) -> torch.Tensor:
        """Boolean adjacency matrix of shape ``(n_nodes, n_nodes)``, symmetric."""
        a = torch.zeros(self.n_nodes, self.n_nodes, dtype=torch.bool)
        if self.edges:
            idx = torch.tensor(self.edges, dtype=torch.long)  # (n_edges, 2)
            a[idx[:, 0], idx[:, 1]] = True
            a[idx[:, 1], idx[:, 0]] = True
        if self_loops:
            a.fill_diagonal_(True)
        return a

    def distances(self) -> torch.Tensor:
        """Hop distances, shape ``(n_nodes, n_nodes)``, ``-1`` between disconnected nodes."""
        n = self.n_nodes
        nbrs = [self.neighbours(i) for i in range(n)]
        d = torch.full((n, n), -1, dtype=torch.long)
        for s in range(n):
            d[s, s] = 0
            queue = deque([s])
            while queue:
                u = queue.popleft()
                for v in nbrs[u]:
                    if d[s, v] < 0:
                        d[s, v] = d[s, u] + 1
                        queue.append(v)
        return d

    def __str__(self) -> str:
        return self.spec or f"graph with {self.n_nodes} nodes and {len(self.edges)} edges"


def _positive(text: str, what: str, spec: str, minimum: int) -> int:
    if not re.fullmatch(r"\d+", text) or int(text) < minimum:
        raise ValueError(f"graph {spec!r}: {what} must be an integer >= {minimum}, got {text!r}.")
    if int(text) > MAX_NODES:
        raise ValueError(
            f"graph {spec!r}: {what} must be at most {MAX_NODES} (nodes hold two features each; "
            f"the dense weights grow as 4 N^2 per layer), got {text}."
        )
    return int(text)


def _ranges(ids: list[int]) -> str:
    """``[3, 4, 5, 9]`` -> ``3..5, 9`` (the first few ranges)."""
    parts: list[str] = []
    start = prev = ids[0]
    for i in [*ids[1:], None]:
        if i is not None and i == prev + 1:
            prev = i
            continue
        parts.append(str(start) if start == prev else f"{start}..{prev}")
        if i is not None:
            start = prev = i
    return ", ".join(parts[:5]) + (", ..." if len(parts) > 5 else "")


def _read_edge_file(path: Path, spec: str, allow_isolated: bool = False) -> Graph:
    if path.is_dir():
        raise ValueError(f"graph {spec!r}: {path} is a directory, not an edge-list file.")
    if not path.is_file():
        raise FileNotFoundError(f"graph {spec!r}: no edge-list file at {str(path)!r}.")
    pairs: list[tuple[int, int]] = []
    declared = 0
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"graph {spec!r}: cannot read {path} as text ({exc}).") from None
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.replace(",", " ").split()
        if len(parts) == 2 and parts[0] == "nodes" and re.fullmatch(r"\d+", parts[1]):
            declared = int(parts[1])
        elif len(parts) == 2 and all(re.fullmatch(r"\d+", p) for p in parts):
            pairs.append((int(parts[0]), int(parts[1])))
        else:
            raise ValueError(
                f"{path}:{lineno}: expected 'i j' (two 0-based node indices) or 'nodes N', "
                f"got {raw.strip()!r}."
            )
    n = max([declared, *(max(p) + 1 for p in pairs)])
    if n < 1:
        raise ValueError(f"{path}: the edge list is empty and declares no nodes.")
    if n > MAX_NODES:
        raise ValueError(
            f"{path}: node {n - 1} makes a graph of {n} nodes; at most {MAX_NODES} are "
            f"supported (every node holds two features)."
        )
    if not declared and not allow_isolated:
        touched = {i for p in pairs for i in p}
        isolated = [i for i in range(n) if i not in touched]
        if isolated:
            raise ValueError(
                f"{path}: node ids must run 0..N-1 with every node on an edge; no edge touches "
                f"node(s) {_ranges(isolated)} ({len(isolated)} of {n}). Fix the edge list, "
                f"or declare 'nodes {n}' in the file (or pass --allow-isolated-nodes) if "
                f"they are meant."
            )
    return Graph.from_edges(n, pairs, spec)


def parse_graph(spec: str, *, allow_isolated: bool = False) -> Graph:
    """Build a :class:`Graph` from ``ring:N``, ``line:N``, ``grid:RxC``, ``full:N``, ``file:PATH``.

    ``allow_isolated``: accept nodes of an edge-list file that no edge touches.

    Raises:
        ValueError: on an unknown kind or bad size, with the accepted forms.
        FileNotFoundError: when ``file:PATH`` names no file.
    """
    if not isinstance(spec, str) or ":" not in spec:
        raise ValueError(f"unknown graph {spec!r}; use one of {', '.join(GRAPH_KINDS)}.")
    kind, _, arg = spec.partition(":")
    if kind == "ring":
        n = _positive(arg, "N", spec, 3)
        return Graph.from_edges(n, [(i, (i + 1) % n) for i in range(n)], spec)
    if kind == "line":
        n = _positive(arg, "N", spec, 1)
        return Graph.from_edges(n, [(i, i + 1) for i in range(n - 1)], spec)
    if kind == "full":
        n = _positive(arg, "N", spec, 1)
        return Graph.from_edges(n, [(i, j) for i in range(n) for j in range(i + 1, n)], spec)
    if kind == "grid":
        rc = arg.lower().split("x")
        if len(rc) != 2:
            raise ValueError(f"graph {spec!r}: write a grid as grid:RxC, e.g. grid:2x4.")
        r, c = (_positive(t, "R and C", spec, 1) for t in rc)
        if r * c > MAX_NODES:
            raise ValueError(f"graph {spec!r}: {r * c} nodes; at most {MAX_NODES} are supported.")
        edges = [(i * c + j, i * c + j + 1) for i in range(r) for j in range(c - 1)]
        edges += [(i * c + j, (i + 1) * c + j) for i in range(r - 1) for j in range(c)]
        return Graph.from_edges(r * c, edges, spec)
    if kind == "file":
        if not arg:
            raise ValueError(f"graph {spec!r}: give a path after 'file:'.")
        return _read_edge_file(Path(arg), spec, allow_isolated)
    raise ValueError(
        f"unknown graph kind {kind!r} in {spec!r}; use one of {', '.join(GRAPH_KINDS)}."
    )
