"""PLAUSIBLE WRONG SUBMISSION 'derive_plain_argmax' (selfcheck requires it to lose points).

Mistake: derive_genotype ignores keep_none and takes the plain argmax, so it returns none where none is largest.

Exercise 07: DARTS and ProxylessNAS, piece by piece.

Chapter 07 ("Differentiable NAS") explains every formula used here. Do not import
``minilib.nas.darts`` or ``minilib.nas.proxyless``: you are writing them.

Conventions (those of ``minilib.nas.space``): the operations ``OPS`` and the 6 edges ``EDGES`` of
the cell, an edge ``(i, j)`` named ``"i->j"``. Weights are dictionaries ``{name: tensor}``; a loss
function takes ``(weights, alpha)`` and returns a scalar tensor.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

OPS = ("none", "skip", "conv1", "conv3", "avgpool")
EDGES = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))
PARAMETER_FREE = ("skip", "avgpool")

LossFn = Callable[[dict[str, torch.Tensor], torch.Tensor], torch.Tensor]


def mixed_op(outputs: Sequence[torch.Tensor] | torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """DARTS's mixed operation (eq. 1): ``sum_o softmax(alpha)_o * outputs[o]``.

    ``outputs`` holds the output of each operation, all of the same shape (a list of tensors, or one
    tensor whose first dimension indexes the operations); ``alpha`` has one entry per operation. Return a
    tensor of the shape of one output, differentiable with respect to ``alpha``.
    """
    ### BEGIN SOLUTION
    stacked = torch.stack(list(outputs)) if not isinstance(outputs, torch.Tensor) else outputs
    weights = F.softmax(alpha, dim=0)
    return (weights.reshape(-1, *[1] * (stacked.dim() - 1)) * stacked).sum(dim=0)
    ### END SOLUTION


def derive_genotype(alpha: torch.Tensor | np.ndarray, ops: Sequence[str] = OPS, keep_none: bool = False
                    ) -> dict[str, str]:
    """The discrete cell of ``alpha`` (shape ``(6, len(ops))``, row ``e`` for edge ``EDGES[e]``).

    On each edge, the operation with the largest alpha **other than** ``"none"`` (DARTS's rule);
    with ``keep_none=True``, the plain argmax (``"none"`` allowed). Ties go to the operation listed
    first. Return ``{"0->1": op, "0->2": op, ...}`` in the order of ``EDGES``; raise ``ValueError`` if
    ``alpha`` does not have shape ``(6, len(ops))``.
    """
    ### BEGIN SOLUTION
    a = np.asarray(alpha.detach().cpu() if isinstance(alpha, torch.Tensor) else alpha, dtype=float)
    if a.shape != (len(EDGES), len(ops)):
        raise ValueError(f"alpha must have shape ({len(EDGES)}, {len(ops)}), got {a.shape}")
    allowed = list(range(len(ops)))
    return {f"{i}->{j}": ops[allowed[int(np.argmax(a[e, allowed]))]] for e, (i, j) in enumerate(EDGES)}
    ### END SOLUTION


def hessian_vector_product(loss_fn: LossFn, weights: dict[str, torch.Tensor], alpha: torch.Tensor,
                           vector: dict[str, torch.Tensor], r: float = 1e-2) -> torch.Tensor:
    """``grad^2_{alpha, w} L(w, alpha) . v`` by DARTS's central finite difference (eq. 8)::

        [grad_alpha L(w + eps v, alpha) - grad_alpha L(w - eps v, alpha)] / (2 eps),   eps = r / ||v||

    where ``||v||`` is the Euclidean norm of all tensors of ``vector`` together (its keys are those of
    ``weights``). ``alpha`` requires grad. Return a tensor of ``alpha``'s shape.
    """
    ### BEGIN SOLUTION
    norm = torch.sqrt(sum((v.detach() ** 2).sum() for v in vector.values()))
    eps = float(r / norm)
    grads = []
    for sign in (1.0, -1.0):
        moved = {name: (w + sign * eps * vector[name]).detach() for name, w in weights.items()}
        grads.append(torch.autograd.grad(loss_fn(moved, alpha), alpha)[0])
    return (grads[0] - grads[1]) / (2 * eps)
    ### END SOLUTION


def unrolled_weights(weights: dict[str, torch.Tensor], grads: dict[str, torch.Tensor], eta: float,
                     momentum: float = 0.0, weight_decay: float = 0.0,
                     buffers: dict[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
    """The weights after the next SGD step, as DARTS's reference code unrolls it::

        w' = w - eta * (momentum * buffer + grad + weight_decay * w)

    ``buffers`` holds the optimizer's momentum buffers by name; a name missing from it (or
    ``buffers=None``: the first step) has no momentum term. Return a new dict of detached tensors.
    """
    ### BEGIN SOLUTION
    buffers = buffers or {}
    out = {}
    for name, w in weights.items():
        moment = momentum * buffers[name] if name in buffers else torch.zeros_like(w)
        out[name] = (w - eta * (moment + grads[name] + weight_decay * w)).detach()
    return out
    ### END SOLUTION


def second_order_gradient(train_loss: LossFn, val_loss: LossFn, weights: dict[str, torch.Tensor],
                          alpha: torch.Tensor, eta: float, momentum: float = 0.0, weight_decay: float = 0.0,
                          buffers: dict[str, torch.Tensor] | None = None, r: float = 1e-2) -> torch.Tensor:
    """DARTS's second-order architecture gradient (eq. 7), built from the functions above:

    1. ``g = grad_w train_loss(w, alpha)`` (alpha held fixed), and the unrolled ``w'`` (``unrolled_weights``);
    2. ``d_alpha`` and ``v``: the gradients of ``val_loss(w', alpha)`` with respect to alpha and to w';
    3. return ``d_alpha - eta * hessian_vector_product(train_loss, w, alpha, v, r)``.
    """
    ### BEGIN SOLUTION
    w = {name: t.detach().requires_grad_(True) for name, t in weights.items()}
    g = dict(zip(w, torch.autograd.grad(train_loss(w, alpha.detach()), list(w.values()))))
    unrolled = {name: t.requires_grad_(True)
                for name, t in unrolled_weights(w, g, eta, momentum, weight_decay, buffers).items()}
    d_alpha, *dw = torch.autograd.grad(val_loss(unrolled, alpha), [alpha, *unrolled.values()])
    vector = dict(zip(unrolled, dw))
    fixed = {name: t.detach() for name, t in weights.items()}
    return d_alpha - eta * hessian_vector_product(train_loss, fixed, alpha, vector, r)
    ### END SOLUTION


def darts_plus_epoch(parameter_free: Sequence[int], threshold: int, check_from: int = 1) -> int | None:
    """DARTS+'s stopping rule. ``parameter_free[t - 1]`` is the number of parameter-free operations in
    the cell derived after epoch ``t`` (epochs count from 1). Return the first epoch ``t >= check_from``
    whose count is at least ``threshold``, or ``None`` if there is none."""
    ### BEGIN SOLUTION
    for epoch, count in enumerate(parameter_free, start=1):
        if epoch >= check_from and count >= threshold:
            return epoch
    return None
    ### END SOLUTION


def expected_latency(alpha: torch.Tensor, latencies: Sequence[float] | torch.Tensor) -> torch.Tensor:
    """ProxylessNAS's differentiable latency: ``sum_e sum_o softmax(alpha_e)_o * latencies[o]`` for
    ``alpha`` of shape ``(n_edges, n_ops)``. Return a 0-d tensor, differentiable in ``alpha``."""
    ### BEGIN SOLUTION
    lat = torch.as_tensor(latencies, dtype=alpha.dtype, device=alpha.device)
    return (F.softmax(alpha, dim=-1) * lat).sum()
    ### END SOLUTION


def bilevel_search(loss: Callable[[dict[str, torch.Tensor], torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor],
                   weights: dict[str, torch.Tensor], alpha: torch.Tensor,
                   batches: Sequence[tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]],
                   eta: float, alpha_lr: float, order: int = 2
                   ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """DARTS's alternating loop (end to end). ``loss(weights, alpha, x, y)`` is the loss of a batch.

    Start from copies of ``weights`` and ``alpha`` (do not modify the caller's tensors). Make one
    ``torch.optim.Adam`` for alpha with ``lr=alpha_lr, betas=(0.5, 0.999), weight_decay=1e-3`` (the
    reference code's). Then, for each ``(x_train, y_train, x_val, y_val)`` of ``batches``, in order:

    1. the alpha step: the gradient is ``grad_alpha loss(w, alpha, x_val, y_val)`` for ``order=1``, and
       ``second_order_gradient`` with the training batch as ``train_loss``, the validation batch as
       ``val_loss``, this ``eta`` and no momentum or weight decay for ``order=2``; one Adam step along it;
    2. the weight step: plain SGD, ``w <- w - eta * grad_w loss(w, alpha, x_train, y_train)`` with the
       alpha of step 1.

    Return ``(weights, alpha)``: a dict of detached tensors and a detached tensor.
    """
    ### BEGIN SOLUTION
    if order not in (1, 2):
        raise ValueError(f"order must be 1 or 2, got {order!r}")
    w = {name: t.detach().clone() for name, t in weights.items()}
    a = alpha.detach().clone().requires_grad_(True)
    optimizer = torch.optim.Adam([a], lr=alpha_lr, betas=(0.5, 0.999), weight_decay=1e-3)
    for x_train, y_train, x_val, y_val in batches:
        if order == 1:
            grad = torch.autograd.grad(loss(w, a, x_val, y_val), a)[0]
        else:
            grad = second_order_gradient(lambda ww, aa, x=x_train, y=y_train: loss(ww, aa, x, y),
                                         lambda ww, aa, x=x_val, y=y_val: loss(ww, aa, x, y), w, a, eta)
        optimizer.zero_grad()
        a.grad = grad
        optimizer.step()
        ws = {name: t.requires_grad_(True) for name, t in w.items()}
        grads = torch.autograd.grad(loss(ws, a.detach(), x_train, y_train), list(ws.values()))
        w = {name: (t - eta * g).detach() for (name, t), g in zip(ws.items(), grads)}
    return w, a.detach()
    ### END SOLUTION
