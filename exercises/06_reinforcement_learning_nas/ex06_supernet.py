"""Exercise 06: a child of the ENAS supernet.

The supernet of chapter 06 (``minilib.nas.enas.SuperNetwork``) holds every operation on every edge
of every cell; its ``state_dict`` names a tensor of edge i->j's operation ``op`` in cell layer ``k``

    cells.<k>.edges.<i>_<j>.<op>.<rest>          e.g.  cells.0.edges.0_1.conv3.1.weight

and every other tensor (stem, reductions, last BatchNorm, head) without an edge part, e.g.
``stem.0.weight`` or ``cells.1.0.weight`` (layer 1 is a reduction). A standalone network of one cell
(``minilib.nas.space.CellNetwork``) names the same tensor ``cells.<k>.edges.<i>_<j>.<rest>``.
Do not import ``minilib.nas.enas``: you are writing it.
"""

from __future__ import annotations

import numpy as np


def child_state(super_state: dict[str, np.ndarray], config: dict[str, str]) -> dict[str, np.ndarray]:
    """The tensors of the supernet that the child ``config`` uses, under the standalone network's names.

    ``config`` maps every edge ``"i->j"`` to its operation. Keep every tensor that is not an edge's,
    unchanged; of an edge's tensors keep those of the operation ``config`` chose for it (an edge whose
    operation is ``"none"`` keeps none), renamed by dropping the ``<op>`` part of the name.
    The values are copies (``np.array(value, copy=True)``): changing the child must not change the
    supernet. Return a new dict.
    """
    ### BEGIN SOLUTION
    out = {}
    for name, value in super_state.items():
        parts = name.split(".")
        if len(parts) > 4 and parts[0] == "cells" and parts[2] == "edges":
            edge, op = parts[3], parts[4]
            if config[edge.replace("_", "->")] != op:
                continue
            name = ".".join(parts[:4] + parts[5:])
        out[name] = np.array(value, copy=True)
    return out
    ### END SOLUTION
