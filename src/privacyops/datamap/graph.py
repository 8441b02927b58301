"""The data-map graph: which entities a target reaches, and in which order to delete them.

Edges are ownership relations, child → parent. A traversal walks them backwards (from the
target's entity to the rows that belong to it), breadth-first; a purge deletes in the
reverse direction of ownership, children before parents.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from privacyops.datamap.schema import DataMap


@dataclass(frozen=True)
class Edge:
    """``child`` rows belong to ``parent`` rows through ``via`` (any of the columns)."""

    child: str
    parent: str
    via: tuple[str, ...]


class DataMapGraph:
    """Read-only view of a data map's relations, resolved from scope names to entities."""

    def __init__(self, datamap: DataMap) -> None:
        self.datamap = datamap
        self.edges: list[Edge] = []
        for name, spec in datamap.entities.items():
            for relation in spec.relations:
                parent = self.resolve(relation.to)
                if parent is not None:
                    self.edges.append(Edge(name, parent, tuple(relation.via)))

    def resolve(self, name: str) -> str | None:
        """An entity name, or the entity behind a scope name; None when it is neither."""
        if name in self.datamap.entities:
            return name
        return self.datamap.scope_entities().get(name)

    def children(self, entity: str) -> list[Edge]:
        return [edge for edge in self.edges if edge.parent == entity]

    def parents(self, entity: str) -> list[Edge]:
        return [edge for edge in self.edges if edge.child == entity]

    def reachable(self, scope: str) -> list[str]:
        """Entities whose rows a target of this scope reaches, breadth-first from the scope.

        A ``tenant`` target reaches every entity: on a shared datastore through its tenant
        column (or through a parent that has one), in a database of its own, everything.
        """
        if scope == "tenant":
            return list(self.datamap.entities)
        start = self.resolve(scope)
        if start is None:
            raise KeyError(scope)
        order = [start]
        queue = deque([start])
        while queue:
            for edge in self.children(queue.popleft()):
                if edge.child not in order:
                    order.append(edge.child)
                    queue.append(edge.child)
        return order

    def find_cycle(self) -> list[str] | None:
        """A cycle of ownership relations (``[a, b, a]``), which no delete order can satisfy."""
        state: dict[str, int] = {}
        path: list[str] = []

        def visit(node: str) -> list[str] | None:
            state[node] = 1
            path.append(node)
            for edge in self.parents(node):
                if state.get(edge.parent) == 1:
                    return [*path[path.index(edge.parent) :], edge.parent]
                if edge.parent not in state:
                    found = visit(edge.parent)
                    if found:
                        return found
            state[node] = 2
            path.pop()
            return None

        for entity in self.datamap.entities:
            if entity not in state:
                found = visit(entity)
                if found:
                    return found
        return None

    def delete_order(self, entities: list[str]) -> list[str]:
        """The entities in an order that deletes children before parents.

        Ownership relations must be respected. References (non-owning pointers) are honoured
        too when they don't form a cycle, so the referencing rows go first; when they do, the
        purge clears the pointer before deleting instead.
        """
        wanted = set(entities)
        hard = [(e.child, e.parent) for e in self.edges if e.child in wanted and e.parent in wanted]
        soft = []
        for name, spec in self.datamap.entities.items():
            for reference in spec.references:
                target = self.resolve(reference.to)
                if name in wanted and target in wanted and target != name:
                    soft.append((name, target))
        tenant_root = self.datamap.scopes.get("tenant")
        if tenant_root in wanted:
            soft.extend((name, tenant_root) for name in entities if name != tenant_root)
        ordered = _topological(entities, hard + soft)
        if ordered is None:
            ordered = _topological(entities, hard)
        if ordered is None:
            raise ValueError("ownership relations form a cycle; no delete order exists")
        return ordered


def _topological(nodes: list[str], before: list[tuple[str, str]]) -> list[str] | None:
    """Order nodes so that for each (a, b), a comes before b; None on a cycle. Stable."""
    pending = {node: 0 for node in nodes}
    for a, b in set(before):
        if a != b:
            pending[b] += 1
    result: list[str] = []
    ready = [node for node in nodes if pending[node] == 0]
    while ready:
        node = ready.pop(0)
        result.append(node)
        for a, b in set(before):
            if a == node and a != b:
                pending[b] -= 1
                if pending[b] == 0:
                    ready.append(b)
    return result if len(result) == len(nodes) else None
