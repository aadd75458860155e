"""Neural architecture search (chapters 05-07): import the submodule you need, e.g.
``from minilib.nas import space, evolution``.

* ``space``: the NAS-Bench-201-style cell space for 1-D CNNs (encoding, isomorphism, networks,
  parameters, FLOPs, latency);
* ``evolution``: regularized (aging) evolution (Real et al. 2019) and population diversity;
* ``predictor``: a learned performance predictor on the cell encoding (PNAS's surrogate idea);
* ``morphism``: weight inheritance from parent to child (network morphism);
* ``reinforce``: a REINFORCE controller (LSTM or independent logits) and MnasNet's latency-aware reward;
* ``enas``: a weight-sharing supernet, ENAS's alternation and random search with weight sharing;
* ``darts``: differentiable architecture search (first and second order) and a collapse remedy;
* ``proxyless``: ProxylessNAS's binarised paths and its differentiable latency term.

The tabular benchmark of that space is ``minilib.benchmarks.nas``. Each algorithm is its own
module, readable top to bottom; this package imports none of them eagerly.
"""
