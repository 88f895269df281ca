"""Dependency graphs (services' depends_on): iterative, so a chain of any length is no
RecursionError (a 3,001-service chain overflowed Python's recursion limit of 1,000)."""

from __future__ import annotations

from typing import Iterable, Mapping, Sequence

Graph = Mapping[str, Sequence[str]]


def find_cycle(graph: Graph) -> list[str] | None:
    """A dependency cycle as a path that ends where it starts, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for start in graph:
        if start in state:
            continue
        path: list[str] = [start]
        pending = [iter(graph.get(start, ()))]
        state[start] = 1
        while pending:
            dep = next(pending[-1], None)
            if dep is None:
                state[path.pop()] = 2
                pending.pop()
            elif state.get(dep) == 1:
                return path[path.index(dep):] + [dep]
            elif dep not in state:
                state[dep] = 1
                path.append(dep)
                pending.append(iter(graph.get(dep, ())))
    return None


def topological_order(graph: Graph, wanted: Iterable[str] | None = None) -> list[str]:
    """The nodes (for `wanted`: those and what they depend on) with every dependency first,
    in the order a depth-first walk of `wanted` (default: every node) meets them."""
    order: list[str] = []
    seen: set[str] = set()
    for start in wanted if wanted is not None else list(graph):
        if start in seen:
            continue
        seen.add(start)
        path, pending = [start], [iter(graph.get(start, ()))]
        while pending:
            dep = next(pending[-1], None)
            if dep is None:
                order.append(path.pop())
                pending.pop()
            elif dep not in seen:
                seen.add(dep)
                path.append(dep)
                pending.append(iter(graph.get(dep, ())))
    return order
