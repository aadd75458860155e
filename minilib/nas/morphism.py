"""Weight inheritance: a mutated child starts from its parent's trained weights.

Training every child from scratch is what makes evolution expensive: Real et al. (AAAI 2019)
train each of their 20,000 CIFAR-10 models for 25 epochs. Their earlier large-scale evolution
(Real et al., ICML 2017) let a child *inherit* every weight its mutation did not touch, and
network morphisms (Wei et al., ICML 2016; Elsken, Metzen & Hutter, ICLR 2019 "LEMONADE";
Cai et al., AAAI 2018) go further: they change the architecture while keeping the function the
network computes, so the child starts where the parent ended.

In the cell space of ``minilib.nas.space`` a mutation changes the operation on one edge. Every
other edge, the stem, the reductions and the head keep their shapes, so the child can copy them
(``inherit_weights``); the new operation starts from its initialisation. This is weight
inheritance, not a full network morphism: a morphism would also start the new operation at zero
output (a zero-initialised BatchNorm scale), but this space's BatchNorms have no scale
(``affine=False``, see ``minilib.nas.space.ReLUConvBN``), so the child's function differs from the
parent's on the changed edge. Chapter 05 ("NAS: search spaces and evolution") measures how many
epochs inheritance saves.
"""

from __future__ import annotations

import torch
from torch import nn

from minilib.nas.space import EDGES, Cell, edge_name


def changed_edges(child: nn.Module, parent: nn.Module) -> list[str]:
    """State-dict prefixes (``"cells.0.edges.1_3."``) of the cell edges whose operation differs
    between ``child`` and ``parent`` (two ``minilib.nas.space.CellNetwork`` of the same skeleton)."""
    parent_cells = dict(parent.named_modules())
    prefixes = []
    for name, module in child.named_modules():
        if isinstance(module, Cell) and isinstance(parent_cells.get(name), Cell):
            theirs = parent_cells[name].config
            prefixes += [f"{name}.edges.{i}_{j}." for i, j in EDGES
                         if module.config[edge_name(i, j)] != theirs[edge_name(i, j)]]
    return prefixes


def inherit_weights(child: nn.Module, parent: nn.Module) -> list[str]:
    """Copy into ``child`` every parameter and buffer of ``parent`` with the same name and shape
    (BatchNorm running statistics included), except those of edges whose operation changed
    (``changed_edges``: a conv3 replaced by a conv1 keeps no BatchNorm statistics of the conv3);
    return the names of the child's tensors that were *not* inherited."""
    theirs = parent.state_dict()
    mine = child.state_dict()
    fresh = tuple(changed_edges(child, parent))
    new = [name for name, tensor in mine.items()
           if name.startswith(fresh) or name not in theirs or theirs[name].shape != tensor.shape]
    with torch.no_grad():
        for name, tensor in mine.items():
            if name not in new:
                tensor.copy_(theirs[name])
    return new
