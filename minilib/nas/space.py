"""A NAS-Bench-201-style cell search space for 1-D CNNs on MNIST-1D.

A *cell* is a small directed acyclic graph on 4 nodes (Dong & Yang, "NAS-Bench-201", ICLR
2020). Node 0 is the cell's input, node 3 its output, and every node j > 0 is the **sum** of
one operation applied to each earlier node::

    node_j = sum_{i < j} op_{i->j}(node_i),      j = 1, 2, 3        (6 edges)

Each of the 6 edges carries one operation of ``OPS``; the search space is therefore a
``minilib.space.Space`` of 6 ``Choice``s, and every searcher of chapters 01-04 runs on it
unchanged. A *network* is a fixed macro skeleton (``build``) that repeats the one searched cell:

    stem -> [cell x N] -> reduction -> [cell x N] -> reduction -> [cell x N] -> BN-ReLU -> pool -> linear

What this module offers (chapter 05, "NAS: search spaces and evolution", explains each):

1. the space and its string form ``|conv3~0|+|skip~0|conv3~1|+|...|`` both ways
   (``to_string`` / ``from_string``, NAS-Bench-201's ``Structure.tostr``);
2. ``canonical``: one key per class of cells that compute the same function (isomorphism);
3. ``mutate`` and ``sample``: what evolution and random search need;
4. ``build``: the PyTorch network of a cell, and its ``parameter_count``, ``flops`` and
   measured CPU ``latency``.

The reduction blocks are deliberately weak (a pointwise convolution and a pooling), so the
cell decides the accuracy: without convolutions in the cell the network's only filter that looks
at neighbouring positions is the stem's 3-tap convolution, and it stays far behind (chapter 05's
landscape; the pilot in ``datasets/README.md``).
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from minilib.space import Choice, Config, Space

#: NAS-Bench-201's five operations, under short names (its ``none``, ``skip_connect``,
#: ``nor_conv_1x1``, ``nor_conv_3x3``, ``avg_pool_3x3``)
NB201_OPS = ("none", "skip", "conv1", "conv3", "avgpool")
#: the operations of the book's space and benchmark (all five)
OPS = NB201_OPS
#: the 6 edges i->j in NAS-Bench-201's order: grouped by target node, then by source
EDGES = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))
N_NODES = 4


def edge_name(i: int, j: int) -> str:
    """The dimension name of edge i -> j in the space: ``"0->1"``."""
    return f"{i}->{j}"


def cell_space(ops: Sequence[str] = OPS) -> Space:
    """The cell space: one ``Choice(ops)`` per edge, in the order of ``EDGES``."""
    unknown = [op for op in ops if op not in NB201_OPS]
    if unknown:
        raise ValueError(f"unknown operations {unknown}; choose from {NB201_OPS}")
    return Space({edge_name(i, j): Choice(list(ops)) for i, j in EDGES})


#: the search space of chapter 05 and of the tabular benchmark: 5^6 = 15,625 cells
SPACE = cell_space(OPS)


# --- 1) the string encoding ------------------------------------------------------------------

def to_string(config: Config) -> str:
    """NAS-Bench-201's string: one ``|op~i|`` per incoming edge i -> j, nodes 1, 2, 3 joined by ``+``.

    >>> to_string({"0->1": "conv3", "0->2": "skip", "1->2": "conv3",
    ...            "0->3": "none", "1->3": "avgpool", "2->3": "conv1"})
    '|conv3~0|+|skip~0|conv3~1|+|none~0|avgpool~1|conv1~2|'
    """
    nodes = []
    for j in range(1, N_NODES):
        nodes.append("|" + "|".join(f"{config[edge_name(i, j)]}~{i}" for i in range(j)) + "|")
    return "+".join(nodes)


def from_string(text: str) -> Config:
    """The inverse of ``to_string`` (``ValueError`` for a malformed string or an unknown operation)."""
    nodes = text.split("+")
    if len(nodes) != N_NODES - 1:
        raise ValueError(f"expected {N_NODES - 1} nodes joined by '+', got {text!r}")
    config = {}
    for j, node in enumerate(nodes, start=1):
        if not (node.startswith("|") and node.endswith("|")):
            raise ValueError(f"node {j} must look like |op~i|...|, got {node!r}")
        parts = node[1:-1].split("|")
        if len(parts) != j:
            raise ValueError(f"node {j} needs {j} incoming edges, got {node!r}")
        for i, part in enumerate(parts):
            op, _, source = part.partition("~")
            if source != str(i) or op not in NB201_OPS:
                raise ValueError(f"edge {i}->{j}: expected 'op~{i}' with op in {NB201_OPS}, got {part!r}")
            config[edge_name(i, j)] = op
    return {edge_name(i, j): config[edge_name(i, j)] for i, j in EDGES}


# --- 2) isomorphism: one key per function --------------------------------------------------------

def canonical(config: Config) -> str:
    """A key shared by cells that compute the same function of their input (isomorphic cells).

    Each node is written as a sum of *terms*, built from node 0 = ``x``:

    * ``none`` contributes nothing (the zero tensor), and so does any operation applied to a
      node that is zero (every operation here maps 0 to 0, see ``build``);
    * ``skip`` copies the terms of its source (a sum of sums is one sum);
    * any other operation contributes the single term ``op(source)``.

    A node's terms are kept sorted (a sum does not depend on the order of its terms, but a term
    that appears twice, e.g. ``x + x``, stays twice). The key is node 3's sum, ``"0"`` when it
    is zero. Edges that cannot reach the output never enter node 3's sum, so they do not
    change the key. This is NAS-Bench-201's ``Structure.to_unique_str(consider_zero=True)``
    rule, completed: it also drops zero terms from sums (a node whose inputs are all zero is
    zero) and flattens sums of sums. It gives 4,930 classes of the 15,625 cells (NAS-Bench-201's
    own rule gives 6,466).

    Two cells with the same key compute the same function. The converse holds when every
    operation other than ``skip`` is treated as a generic function, which is how NAS-Bench-201
    counts too; ``avgpool`` is in fact linear, so a few cells with different keys still compute
    the same function, e.g. ``avgpool(x + conv3(x))`` and ``avgpool(x) + avgpool(conv3(x))``.

    >>> canonical(from_string("|skip~0|+|none~0|conv3~1|+|none~0|none~1|skip~2|"))
    'conv3(x)'
    """
    terms: list[list[str]] = [["x"]]                       # node 0 is the input x
    for j in range(1, N_NODES):
        node: list[str] = []
        for i in range(j):
            op, source = config[edge_name(i, j)], terms[i]
            if op == "none" or not source:                 # 0, or op(0) = 0
                continue
            if op == "skip":
                node += source                              # x + (a + b) = x + a + b
            else:
                node.append(f"{op}({'+'.join(source)})")
        terms.append(sorted(node))
    return "+".join(terms[-1]) or "0"


def unique_architectures(space: Space = SPACE) -> dict[str, Config]:
    """``{canonical key: its first cell in grid order}`` over every cell of ``space``: one
    representative per class (the benchmark trains exactly these)."""
    representatives: dict[str, Config] = {}
    for config in space.grid():
        representatives.setdefault(canonical(config), config)
    return representatives


# --- 3) sampling and mutation ----------------------------------------------------------------------

def sample(n: int = 1, seed: int | None = None, rng: np.random.Generator | None = None,
           space: Space = SPACE) -> list[Config]:
    """``n`` cells drawn uniformly: each edge's operation independently (``Space.sample``)."""
    return space.sample(n, seed=seed, rng=rng)


def mutate(config: Config, rng: np.random.Generator, space: Space = SPACE) -> Config:
    """Real et al.'s (2019) mutation: one edge, chosen uniformly, gets a *different* operation,
    chosen uniformly among the others (``Space.mutate`` with ``Choice.neighbor``)."""
    return space.mutate(config, rng)


# --- 4) the network ------------------------------------------------------------------------------

class ReLUConvBN(nn.Sequential):
    """NAS-Bench-201's ``nor_conv_kxk``: ReLU -> Conv1d(k, 'same' padding, no bias) -> BatchNorm.

    The BatchNorm has no affine shift (``affine=False``, as in DARTS's search cells), so a zero
    input gives an exact zero output, in training and in evaluation: that makes ``canonical``
    exact (an operation on a zero node is zero)."""

    def __init__(self, channels: int, kernel_size: int):
        super().__init__(nn.ReLU(), nn.Conv1d(channels, channels, kernel_size, padding=kernel_size // 2, bias=False),
                         nn.BatchNorm1d(channels, affine=False))


def make_op(name: str, channels: int) -> nn.Module:
    """The module of one operation (``none`` has none: its edge is left out of the sum)."""
    if name == "skip":
        return nn.Identity()
    if name == "conv1":
        return ReLUConvBN(channels, 1)
    if name == "conv3":
        return ReLUConvBN(channels, 3)
    if name == "avgpool":
        return nn.AvgPool1d(3, stride=1, padding=1, count_include_pad=False)
    raise ValueError(f"operation {name!r} has no module; choose from {NB201_OPS[1:]}")


class Cell(nn.Module):
    """One cell: node_j = sum over i < j of op_{i->j}(node_i); returns node 3. Keeps (B, C, L)."""

    def __init__(self, config: Config, channels: int):
        super().__init__()
        self.config = dict(config)
        self.edges = nn.ModuleDict({edge_name(i, j).replace("->", "_"): make_op(config[edge_name(i, j)], channels)
                                    for i, j in EDGES if config[edge_name(i, j)] != "none"})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for j in range(1, N_NODES):
            parts = [self.edges[f"{i}_{j}"](nodes[i]) for i in range(j) if f"{i}_{j}" in self.edges]
            nodes.append(torch.stack(parts).sum(dim=0) if parts else torch.zeros_like(x))
        return nodes[-1]


class Reduction(nn.Sequential):
    """Between stages: double the channels (ReLU -> pointwise Conv1d -> BN) and halve the length
    (AvgPool1d(2)). Pointwise on purpose: it adds no spatial context, the cells must."""

    def __init__(self, channels: int):
        super().__init__(nn.ReLU(), nn.Conv1d(channels, 2 * channels, 1, bias=False), nn.BatchNorm1d(2 * channels),
                         nn.AvgPool1d(2))


def macro_skeleton(make_cell: Callable[[int], nn.Module], channels: int, cells_per_stage: int, stages: int,
                   stem_stride: int) -> tuple[nn.Module, list[nn.Module], int]:
    """The fixed outer network every searched cell sits in (shared by ``CellNetwork`` and the DARTS and
    ENAS supernets): a conv-BN stem, then ``stages`` stages of ``cells_per_stage`` cells made by
    ``make_cell(width)``, with a ``Reduction`` (halve the length, double the width) between stages.
    Returns (stem, cells and reductions in order, the last width)."""
    stem = nn.Sequential(nn.Conv1d(1, channels, 3, stride=stem_stride, padding=1, bias=False),
                         nn.BatchNorm1d(channels))           # (B, 1, L) -> (B, C, L / stem_stride)
    layers: list[nn.Module] = []
    c = channels
    for stage in range(stages):
        if stage > 0:
            layers.append(Reduction(c))
            c *= 2
        layers += [make_cell(c) for _ in range(cells_per_stage)]
    return stem, layers, c


class CellNetwork(nn.Module):
    """stem -> (cells, reduction) x (stages - 1) -> cells -> BN-ReLU -> global average pool -> linear.

    Input: (batch, length) sequences, as ``minilib.data`` gives them; output: (batch, classes) logits.
    Channels go C, 2C, 4C, ... and the length L, L/2, L/4, ... from stage to stage.
    """

    def __init__(self, config: Config, channels: int = 8, cells_per_stage: int = 1, stages: int = 3,
                 n_classes: int = 10, stem_stride: int = 1):
        super().__init__()
        if channels < 1 or cells_per_stage < 1 or stages < 1:
            raise ValueError(f"need channels, cells_per_stage, stages >= 1; got {channels}, {cells_per_stage}, "
                             f"{stages}")
        self.stem, layers, c = macro_skeleton(lambda width: Cell(config, width), channels, cells_per_stage, stages,
                                              stem_stride)
        self.cells = nn.Sequential(*layers)
        self.last = nn.Sequential(nn.BatchNorm1d(c), nn.ReLU())   # NB201's lastact (NASLib#86: do not drop it)
        self.head = nn.Linear(c, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stem(x.unsqueeze(1))              # (B, L) -> (B, C, L)
        h = self.last(self.cells(h))               # (B, 4C, L/4) with 3 stages
        return self.head(h.mean(dim=2))            # global average pool -> (B, 4C) -> (B, classes)


def build(config: Config, channels: int = 8, cells_per_stage: int = 1, stages: int = 3, n_classes: int = 10,
          stem_stride: int = 1, seed: int | None = None, space: Space = SPACE) -> CellNetwork:
    """The network of cell ``config``; ``seed`` fixes its initial weights without touching the
    global random state (``minilib.models.build_seeded``)."""
    from minilib.models import build_seeded

    space.validate(config)
    return build_seeded(lambda: CellNetwork(config, channels, cells_per_stage, stages, n_classes, stem_stride), seed)


# --- 5) cost of an architecture ------------------------------------------------------------------

def parameter_count(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def flops(model: nn.Module, length: int = 40) -> int:
    """Floating-point operations of one forward pass of one input sequence of ``length``: 2 per
    multiply-add of every convolution and linear layer (the convention of
    ``torch.utils.flop_counter``; BatchNorm, ReLU, pooling and sums are not counted).

    A Conv1d with C_in -> C_out channels, kernel k and output length L_out does
    C_out * L_out * (C_in / groups) * k multiply-adds; a Linear(n, m) does n * m.
    """
    total = 0

    def count(module: nn.Module, inputs: Any, output: torch.Tensor) -> None:
        nonlocal total
        if isinstance(module, nn.Conv1d):
            total += 2 * output.numel() * (module.in_channels // module.groups) * module.kernel_size[0]
        elif isinstance(module, nn.Linear):
            total += 2 * output.numel() * module.in_features

    hooks = [m.register_forward_hook(count) for m in model.modules() if isinstance(m, (nn.Conv1d, nn.Linear))]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(1, length))
    finally:
        model.train(was_training)
        for hook in hooks:
            hook.remove()
    return total


def latency(model: nn.Module, batch_size: int = 1, length: int = 40, repeats: int = 50, warmup: int = 5) -> float:
    """Measured CPU inference time in seconds (the median over ``repeats`` forward passes of a
    batch of ``batch_size`` sequences, in evaluation mode, without gradients, on the current
    number of torch threads). A measurement: it depends on the CPU and on what else runs."""
    x = torch.zeros(batch_size, length)
    was_training = model.training
    model.eval()
    times = []
    try:
        with torch.no_grad():
            for k in range(warmup + repeats):
                start = time.perf_counter()
                model(x)
                if k >= warmup:
                    times.append(time.perf_counter() - start)
    finally:
        model.train(was_training)
    return statistics.median(times)


def describe(config: Config) -> str:
    """A one-line summary: the string form and the canonical key."""
    return f"{to_string(config)}  ({canonical(config)})"


def space_size(space: Space = SPACE) -> int:
    """Number of cells in ``space`` (5^6 = 15,625 with NAS-Bench-201's operations)."""
    return int(math.prod(dim.size() for dim in space.dimensions.values()))
