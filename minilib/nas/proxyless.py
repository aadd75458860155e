"""ProxylessNAS: binarised paths and a latency loss (Cai, Zhu & Han, ICLR 2019), on chapter 05's cell space.

DARTS (``minilib.nas.darts``) runs every operation of every edge at every step, so its memory
grows with the number of operations. ProxylessNAS keeps DARTS's architecture parameters alpha
but *binarises* the mixture: each step samples one operation per edge from softmax(alpha) and runs
only that one (Section 3.2 of the paper)::

    g_e = one_hot(k_e),   k_e ~ Categorical(p_e),   p_e = softmax(alpha_e)
    mixed_e(x) = sum_o g_{e,o} o(x) = o_{k_e}(x)                    (one path in memory)

The gradient to alpha goes through the binary gates as in BinaryConnect (eq. 4 of the paper)::

    dL/d alpha_{e,i} = sum_j dL/dg_{e,j} * p_{e,j} (delta_ij - p_{e,i})

where dL/dg_{e,j} = <dL/d mixed_e, o_j(x)> needs the output of operation j. With one path in
memory only the sampled j = k_e is available, so this module keeps that term (the paper keeps
two sampled paths per step): ``path_output`` writes it as ``o_k(x) * (1 + p_k - stop_grad(p_k))``,
whose value is o_k(x) and whose alpha-gradient is exactly that term.

The latency of an architecture is made differentiable by its expectation under the sampling
(Section 3.3): per edge, sum_o p_{e,o} * latency_o, with per-operation latencies fitted to the
benchmark's measured CPU latencies (``op_latencies``). The search loss for alpha is
``cross-entropy + latency_weight * E[latency]``. Chapter 07 ("differentiable NAS") explains it.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from minilib.nas.darts import SearchCell, SearchNetwork, SearchResult, derive, parameter_free_count, split_in_halves
from minilib.nas.space import EDGES, N_NODES, OPS
from minilib.space import Config

# --- 1) one sampled path -----------------------------------------------------------------------------


def path_output(op: nn.Module, x: torch.Tensor, p_k: torch.Tensor) -> torch.Tensor:
    """``o_k(x)`` with the binary-gate gradient of the sampled path: the value is ``o_k(x)``; the
    gradient to alpha is ``<dL/dout, o_k(x)> * dp_k/d alpha = dL/dg_k * p_k (delta_ik - p_i)``."""
    return op(x) * (1.0 + p_k - p_k.detach())


class ProxylessNetwork(SearchNetwork):
    """``minilib.nas.darts.SearchNetwork`` whose cells run one sampled operation per edge.

    ``forward(x, path)``: ``path`` is a (6,) tensor of operation indices (one per edge of ``EDGES``,
    shared by all cells, like alpha); ``sample_path(generator)`` draws one from softmax(alpha).
    """

    def sample_path(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """One operation index per edge, k_e ~ Categorical(softmax(alpha_e)): shape (6,)."""
        probs = F.softmax(self.alpha.detach(), dim=-1).cpu()
        return torch.multinomial(probs, 1, generator=generator).squeeze(1)

    def _cell(self, cell: SearchCell, x: torch.Tensor, path: torch.Tensor, probs: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for j in range(1, N_NODES):
            parts = []
            for i in range(j):
                e = EDGES.index((i, j))
                k = int(path[e])
                if self.ops[k] != "none":              # none adds zero: no path, no gradient
                    parts.append(path_output(cell.edges[f"{i}_{j}"].ops[self.ops[k]], nodes[i], probs[e, k]))
            nodes.append(sum(parts) if parts else torch.zeros_like(x))
        return nodes[-1]

    def forward(self, x: torch.Tensor, path: torch.Tensor | None = None) -> torch.Tensor:  # type: ignore[override]
        """``x``: (B, L) -> (B, classes) logits through the operations of ``path`` (sampled if None)."""
        path = self.sample_path() if path is None else path
        probs = F.softmax(self.alpha, dim=-1)                              # (6, n_ops)
        h = self.stem(x.unsqueeze(1))
        for layer in self.cells:
            h = self._cell(layer, h, path, probs) if isinstance(layer, SearchCell) else layer(h)
        h = self.last(h)
        return self.head(h.mean(dim=2))


# --- 2) the latency term -------------------------------------------------------------------------------

def op_latencies(benchmark: Any, ops: tuple[str, ...] = OPS) -> np.ndarray:
    """Per-operation latency (seconds) fitted to the benchmark's measured network latencies.

    Least squares over the unique architectures (the cells the benchmark actually measured,
    ``benchmark.representatives``) of the additive model ``latency(cell) = base + sum over the 6
    edges of latency_{op_e}``, with ``none`` fixed at 0 (it runs nothing). Returns one value per
    operation of ``ops`` (the base, the stem, reductions and head, is left out: it does not depend
    on alpha).
    """
    cells = benchmark.representatives
    free = [o for o in ops if o != "none"]
    design = np.array([[1.0] + [sum(c[e] == o for e in c) for o in free] for c in cells])
    measured = np.array([benchmark.latency(c) for c in cells])
    coef, *_ = np.linalg.lstsq(design, measured, rcond=None)
    per_op = dict(zip(free, coef[1:]))
    return np.array([per_op.get(o, 0.0) for o in ops])


def expected_latency(alpha: torch.Tensor, latencies: torch.Tensor | np.ndarray) -> torch.Tensor:
    """E[latency] = sum_e sum_o softmax(alpha_e)_o * latency_o (Section 3.3): differentiable in alpha;
    its gradient is p_{e,i} (latency_i - E_e[latency]) per edge."""
    latencies = torch.as_tensor(latencies, dtype=alpha.dtype, device=alpha.device)
    return (F.softmax(alpha, dim=-1) * latencies).sum()


def saved_activation_bytes(model: nn.Module, x: torch.Tensor, **forward_kwargs: Any) -> int:
    """Bytes of the tensors one forward pass saves for its backward pass (the memory a training step
    holds beyond the weights), counted with ``torch.autograd.graph.saved_tensors_hooks``; a tensor
    saved twice is counted once. Portable: the same number on CPU and GPU."""
    seen: dict[tuple[int, int], int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        key = (t.untyped_storage().data_ptr(), t.storage_offset())
        seen[key] = max(seen.get(key, 0), t.numel() * t.element_size())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(x, **forward_kwargs)
    return sum(seen.values())


# --- 3) the search loop ----------------------------------------------------------------------------------

def search(data: Any = None, latencies: np.ndarray | None = None, latency_weight: float = 0.0, epochs: int = 20,
           seed: int = 0, channels: int = 8, cells_per_stage: int = 1, stages: int = 3, stem_stride: int = 2,
           batch_size: int = 64, lr: float = 0.025, lr_min: float = 1e-3, momentum: float = 0.9,
           weight_decay: float = 3e-4, grad_clip: float = 5.0, alpha_lr: float = 1e-3, train_size: int | None = None,
           device: torch.device | None = None) -> SearchResult:
    """ProxylessNAS on MNIST-1D's training split, with ``minilib.nas.darts.search``'s data halves, weight
    optimizer and schedule. Each step samples a path and takes an SGD step on the weights (first half),
    then samples another path and takes an Adam step on alpha (second half) on the loss
    ``cross-entropy + latency_weight * expected_latency(alpha, latencies)``. ``latencies`` (seconds per
    operation, in ``OPS`` order) default to zeros: no latency term. ``train_size`` as in ``darts.search``
    (that many training examples, then halved). Returns a ``SearchResult`` whose
    ``info["expected_latency"]`` lists E[latency] after each epoch (index 0: at the start).
    """
    from minilib.data import load_mnist1d
    from minilib.train import get_device

    data = data if data is not None else load_mnist1d()
    device = device if device is not None else get_device()
    start = time.perf_counter()
    X, y, w_idx, a_idx = split_in_halves(data, seed, device, train_size)
    half = len(w_idx)

    model = ProxylessNetwork(channels, cells_per_stage, stages, int(data.n_classes or int(y.max()) + 1), stem_stride,
                             seed=seed).to(device)
    lat = torch.as_tensor(np.zeros(len(model.ops)) if latencies is None else latencies, dtype=torch.float32,
                          device=device)
    w_optimizer = torch.optim.SGD(model.weight_parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(w_optimizer, T_max=epochs, eta_min=lr_min)
    a_optimizer = torch.optim.Adam([model.alpha], lr=alpha_lr, betas=(0.0, 0.999))    # beta1 = 0: the authors' code
    generator = torch.Generator().manual_seed(seed)

    def expected() -> float:
        return float(expected_latency(model.alpha.detach(), lat))

    alphas, genotypes = [F.softmax(model.alpha, dim=-1).detach().cpu().numpy()], []
    result = SearchResult(config={}, genotypes=genotypes, alphas=np.empty(0), parameter_free=[], train_loss=[],
                          val_accuracy=[], info={"expected_latency": [expected()]})
    steps = half // batch_size
    for _ in range(epochs):
        model.train()
        w_perm = w_idx[torch.randperm(half, generator=generator).to(device)]
        a_perm = a_idx[torch.randperm(len(a_idx), generator=generator).to(device)]
        losses = []
        for k in range(steps):
            wb, ab = w_perm[k * batch_size:(k + 1) * batch_size], a_perm[k * batch_size:(k + 1) * batch_size]
            w_optimizer.zero_grad()                                   # 1) weights, on a sampled path
            loss = F.cross_entropy(model(X[wb], model.sample_path(generator)), y[wb])
            loss.backward()
            nn.utils.clip_grad_norm_(model.weight_parameters(), grad_clip)
            w_optimizer.step()
            losses.append(loss.item())
            a_optimizer.zero_grad()                                   # 2) alpha, through the binary gates
            val_loss = F.cross_entropy(model(X[ab], model.sample_path(generator)), y[ab])
            (val_loss + latency_weight * expected_latency(model.alpha, lat)).backward()
            a_optimizer.step()
        scheduler.step()

        model.eval()
        with torch.no_grad():                  # the supernet's accuracy on its most likely path
            accuracy = (model(X[a_idx], model.alpha.argmax(dim=1)).argmax(dim=1) == y[a_idx]).float().mean().item()
        alphas.append(F.softmax(model.alpha, dim=-1).detach().cpu().numpy())
        genotypes.append(derive(model.alpha, model.ops))
        result.parameter_free.append(parameter_free_count(genotypes[-1]))
        result.train_loss.append(float(np.mean(losses)))
        result.val_accuracy.append(accuracy)
        result.info["expected_latency"].append(expected())

    result.alphas = np.stack(alphas)
    result.config = genotypes[-1]
    result.seconds = time.perf_counter() - start
    result.info.update({"latency_weight": latency_weight, "seed": seed, "epochs": epochs, "steps_per_epoch": steps})
    return result


def derived_latency(config: Config, latencies: np.ndarray, ops: tuple[str, ...] = OPS) -> float:
    """The fitted latency of a discrete cell: the sum of its edges' operation latencies (no base)."""
    return float(sum(latencies[ops.index(op)] for op in config.values()))
