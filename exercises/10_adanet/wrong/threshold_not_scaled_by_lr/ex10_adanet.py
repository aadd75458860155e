"""PLAUSIBLE WRONG SUBMISSION 'threshold_not_scaled_by_lr' (selfcheck requires it to lose points).

Mistake: the proximal step thresholds by gamma instead of lr * gamma.

Exercise 10: the pieces of AdaNet, in numpy.

Chapter 10 ("AdaNet") explains every formula used here. Do not import ``minilib.ensembles.adanet``:
you are writing it. Shapes: ``H`` holds the outputs of N subnetworks on m examples, ``(N, m)`` for
regression; ``w`` holds one mixture weight per subnetwork, ``(N,)``.
"""

from __future__ import annotations

import numpy as np


def soft_threshold(v, t):
    """The proximal operator of ``t * |w|``: ``sign(v) * max(|v| - t, 0)``, elementwise.

    ``v`` is an array; ``t >= 0`` is a number or an array of the same shape (one threshold per
    weight). Return a new float ndarray of ``v``'s shape. Values within ``t`` of zero become
    exactly ``0.0``.
    """
    ### BEGIN SOLUTION
    v = np.asarray(v, dtype=float)
    return np.sign(v) * np.maximum(np.abs(v) - np.asarray(t, dtype=float), 0.0)
    ### END SOLUTION


def regularized_objective(w, H, y, complexities, lam, beta):
    """AdaNet's objective for regression, split into its two parts: ``(loss, penalty)``, two floats.

    ``loss = (1/m) sum_i (sum_j w_j H[j, i] - y_i)^2`` and
    ``penalty = sum_j (lam * complexities[j] + beta) * |w_j|``; ``F(w) = loss + penalty``.
    """
    ### BEGIN SOLUTION
    w, H, y = np.asarray(w, dtype=float), np.asarray(H, dtype=float), np.asarray(y, dtype=float)
    f = w @ H
    loss = float(np.mean((f - y) ** 2))
    gamma = lam * np.asarray(complexities, dtype=float) + beta
    return loss, float(np.sum(gamma * np.abs(w)))
    ### END SOLUTION


def proximal_step(w, grad, lr, gamma):
    """One step of proximal gradient descent (ISTA) on ``loss(w) + sum_j gamma_j |w_j|``.

    A gradient step on the smooth loss with step size ``lr``, then the soft threshold of the
    L1 term, whose threshold is ``lr * gamma`` (not ``gamma``). Return a new float ndarray.
    """
    ### BEGIN SOLUTION
    w, grad = np.asarray(w, dtype=float), np.asarray(grad, dtype=float)
    return soft_threshold(w - lr * grad, np.asarray(gamma, dtype=float))
    ### END SOLUTION


def fit_weights(H, y, gamma, steps=500):
    """Minimise the regression objective over ``w`` by ``steps`` proximal steps.

    Start at the uniform average ``w_j = 1/N``; use the fixed step size ``lr = 1 / L`` with
    ``L = 2 * largest eigenvalue of H H^T / m`` (the Lipschitz constant of the loss's gradient
    ``(2/m) H (H^T w - y)``), so that every step lowers ``F``. Return the float ndarray ``w``.
    """
    ### BEGIN SOLUTION
    H, y = np.asarray(H, dtype=float), np.asarray(y, dtype=float)
    n, m = H.shape
    lr = 1.0 / (2.0 * np.linalg.eigvalsh(H @ H.T / m).max())
    w = np.full(n, 1.0 / n)
    for _ in range(steps):
        grad = 2.0 / m * H @ (w @ H - y)
        w = proximal_step(w, grad, lr, gamma)
    return w
    ### END SOLUTION


def choose_candidate(previous_objective, objectives, new_weights, rel_tol=1e-4):
    """AdaNet's choice at one iteration: the index of the candidate that joins, or ``None``.

    ``objectives[k]`` is ``F`` of (the ensemble so far + candidate k) with fitted weights, and
    ``new_weights[k]`` the weight it gave candidate k. The candidate with the lowest objective
    (the first one on ties) joins if its objective is below
    ``previous_objective - rel_tol * abs(previous_objective)`` and its weight is not exactly zero;
    otherwise no candidate joins (``None``) and the search stops.
    """
    ### BEGIN SOLUTION
    objectives = [float(o) for o in objectives]
    best = int(np.argmin(objectives))
    lowers = objectives[best] < previous_objective - rel_tol * abs(previous_objective)
    return best if lowers and float(new_weights[best]) != 0.0 else None
    ### END SOLUTION


def adanet_search(candidates, y, lam, beta, steps=500, rel_tol=1e-4):
    """The whole AdaNet loop on fixed (already trained) subnetworks, for regression.

    ``candidates[t]`` is the list of candidates of iteration ``t``: pairs ``(outputs, complexity)``
    with ``outputs`` of shape ``(m,)``. At iteration ``t``, for each candidate ``k`` in order, fit the
    weights of (chosen so far + candidate k) with ``fit_weights`` (``gamma_j = lam * r_j + beta``) and
    compute its objective; let ``choose_candidate`` pick (the previous objective is that of the
    ensemble so far, ``mean(y^2)`` for the empty ensemble ``f = 0``). Stop at the first ``None``
    or after the last iteration. Return ``(chosen, w)``: the list of chosen ``(t, k)`` pairs and the
    final weights (an empty float ndarray when nothing was chosen).
    """
    ### BEGIN SOLUTION
    y = np.asarray(y, dtype=float)
    chosen, outs, rs, w = [], [], [], np.zeros(0)
    previous = float(np.mean(y ** 2))
    for t, iteration in enumerate(candidates):
        objectives, weights = [], []
        for out, r in iteration:
            H = np.array(outs + [np.asarray(out, dtype=float)])
            gamma = lam * np.array(rs + [r], dtype=float) + beta
            wk = fit_weights(H, y, gamma, steps=steps)
            loss, penalty = regularized_objective(wk, H, y, rs + [r], lam, beta)
            objectives.append(loss + penalty)
            weights.append(wk)
        k = choose_candidate(previous, objectives, [wk[-1] for wk in weights], rel_tol)
        if k is None:
            break
        chosen.append((t, k))
        outs.append(np.asarray(iteration[k][0], dtype=float))
        rs.append(iteration[k][1])
        w, previous = weights[k], objectives[k]
    return chosen, w
    ### END SOLUTION
