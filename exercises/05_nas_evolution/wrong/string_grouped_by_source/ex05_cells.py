"""Exercise 05 (part 1): the cell encoding and which edges of a cell matter.

Chapter 05 ("NAS: search spaces and evolution") explains both. A cell is a dict with one entry
per edge ``"i->j"`` (``EDGES`` below, in this order) whose value is one of ``OPS``. Do not import
``minilib.nas.space``'s ``to_string``, ``from_string`` or ``canonical``: you are writing them.
"""

from __future__ import annotations

OPS = ("none", "skip", "conv1", "conv3", "avgpool")
EDGES = ("0->1", "0->2", "1->2", "0->3", "1->3", "2->3")


def to_string(cell: dict[str, str]) -> str:
    """NAS-Bench-201's string of a cell: for each node j = 1, 2, 3 a group ``|op~i|op~i|...|`` with
    one entry per incoming edge i -> j (i = 0, ..., j - 1, in that order), groups joined by ``+``.

    >>> to_string({"0->1": "conv3", "0->2": "skip", "1->2": "conv3",
    ...            "0->3": "none", "1->3": "avgpool", "2->3": "conv1"})
    '|conv3~0|+|skip~0|conv3~1|+|none~0|avgpool~1|conv1~2|'
    """
    ### BEGIN SOLUTION
    groups = []
    for j in (1, 2, 3):
        groups.append("|" + "|".join(f"{cell[f'{i}->{j}']}~{j}" for i in range(j)) + "|")
    return "+".join(groups)
    ### END SOLUTION


def from_string(text: str) -> dict[str, str]:
    """The inverse of ``to_string``: a dict with the keys of ``EDGES`` in that order. Raise
    ``ValueError`` for a string that is not three groups, a group with the wrong number of
    entries, an entry whose source is not its position (``conv3~1`` as the first entry of a
    group) or an operation that is not in ``OPS``."""
    ### BEGIN SOLUTION
    groups = text.split("+")
    if len(groups) != 3:
        raise ValueError(f"expected 3 groups joined by '+', got {text!r}")
    cell = {}
    for j, group in enumerate(groups, start=1):
        if not (group.startswith("|") and group.endswith("|")):
            raise ValueError(f"group {j} must look like |op~i|...|, got {group!r}")
        entries = group[1:-1].split("|")
        if len(entries) != j:
            raise ValueError(f"group {j} needs {j} entries, got {group!r}")
        for i, entry in enumerate(entries):
            op, _, source = entry.partition("~")
            if source != str(i) or op not in OPS:
                raise ValueError(f"edge {i}->{j}: expected op~{i} with op in {OPS}, got {entry!r}")
            cell[f"{i}->{j}"] = op
    return {edge: cell[edge] for edge in EDGES}
    ### END SOLUTION


def live_edges(cell: dict[str, str]) -> list[str]:
    """The edges that can change what the cell computes, in the order of ``EDGES``.

    Node 0 is the input and node 3 the output. A node is *fed* if it is node 0 or has a
    non-``none`` edge from a fed node; a node *reaches the output* if it is node 3 or has a
    non-``none`` edge to a node that reaches the output. An edge i -> j is live when its
    operation is not ``none``, node i is fed and node j reaches the output. (Every operation here
    maps a zero input to zero, so the edges out of an unfed node carry nothing.)

    >>> live_edges({"0->1": "conv3", "0->2": "avgpool", "1->2": "skip",
    ...             "0->3": "skip", "1->3": "conv1", "2->3": "none"})
    ['0->1', '0->3', '1->3']
    """
    ### BEGIN SOLUTION
    fed = {0}
    for j in (1, 2, 3):
        if any(cell[f"{i}->{j}"] != "none" and i in fed for i in range(j)):
            fed.add(j)
    reaches = {3}
    for i in (2, 1, 0):
        if any(cell[f"{i}->{j}"] != "none" and j in reaches for j in range(i + 1, 4)):
            reaches.add(i)
    return [e for e in EDGES if cell[e] != "none" and int(e[0]) in fed and int(e[-1]) in reaches]
    ### END SOLUTION
