"""minilib.nas.space: the cell space, its string form, isomorphism, mutation and the networks,
against oracles: a functional hash of every cell, NAS-Bench-201's published facts, closed-form
parameter counts and PyTorch's own FLOP counter."""

from collections import Counter

import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from minilib.nas import space as S
from minilib.space import Choice, Space

EXAMPLE = "|conv3~0|+|skip~0|conv3~1|+|none~0|avgpool~1|conv1~2|"


def test_space_is_six_choices_of_the_five_nb201_operations():
    # catches: another edge order than NAS-Bench-201's, a missing operation, a non-Space
    assert isinstance(S.SPACE, Space)
    assert S.SPACE.names == ["0->1", "0->2", "1->2", "0->3", "1->3", "2->3"]
    assert all(isinstance(d, Choice) and list(d.options) == list(S.NB201_OPS) for d in S.SPACE.dimensions.values())
    assert S.SPACE.size() == S.space_size() == 5 ** 6 == 15625


def test_string_form_both_ways():
    config = S.from_string(EXAMPLE)
    # hand-decoded: node 1 = conv3(n0); node 2 = skip(n0) + conv3(n1); node 3 = avgpool(n1) + conv1(n2)
    assert config == {"0->1": "conv3", "0->2": "skip", "1->2": "conv3", "0->3": "none", "1->3": "avgpool",
                      "2->3": "conv1"}
    assert S.to_string(config) == EXAMPLE
    for cell in S.sample(50, seed=0):                  # round trip on random cells
        assert S.from_string(S.to_string(cell)) == cell
    for bad in ["|conv3~0|+|skip~0|conv3~1|",                                  # two nodes
                "|conv3~1|+|skip~0|conv3~1|+|none~0|avgpool~1|conv1~2|",      # wrong source
                "|conv5~0|+|skip~0|conv3~1|+|none~0|avgpool~1|conv1~2|",      # unknown op
                "conv3~0+|skip~0|conv3~1|+|none~0|none~1|none~2|"]:           # no bars
        with pytest.raises(ValueError):
            S.from_string(bad)


def _functional_hash(config, ops, x):
    """Node values with each operation replaced by a fixed random nonlinear map (none = 0,
    skip = identity): cells get equal outputs exactly when they compute the same composition."""
    nodes = [x]
    for j in range(1, 4):
        total = np.zeros_like(x)
        for i in range(j):
            op = config[S.edge_name(i, j)]
            if op == "skip":
                total = total + nodes[i]
            elif op != "none":
                total = total + np.tanh(ops[op] @ nodes[i])
        nodes.append(total)
    return tuple(np.round(nodes[-1], 6))


def test_canonical_classes_are_the_functional_classes():
    # Oracle: evaluate every one of the 15,625 cells with generic random operations and group
    # cells by their output. Catches: unsorted sums (too many classes), no zero propagation
    # (too many), x + x counted as x (too few), skip treated as an operation, ignored edges.
    rng = np.random.default_rng(0)
    ops = {op: rng.normal(size=(6, 6)) for op in ("conv1", "conv3", "avgpool")}
    x = rng.normal(size=6)
    by_key, by_function = {}, {}
    for config in S.SPACE.grid():
        key, fun = S.canonical(config), _functional_hash(config, ops, x)
        assert by_key.setdefault(key, fun) == fun                 # same key -> same function
        assert by_function.setdefault(fun, key) == key            # same function -> same key
    unique = S.unique_architectures()
    print(f"{len(unique)} unique architectures among {S.SPACE.size()} cells")
    assert len(by_key) == len(by_function) == len(unique) == 4930
    # each representative is the first cell of its class in grid order
    assert next(iter(unique.values())) == S.SPACE.grid()[0]


def test_disconnected_cells_and_isomorphism_examples():
    # 341 of the 15,625 cells have no path of non-`none` edges from input to output
    # (REFERENCES section 18.1, computed independently); they all share the key "0".
    keys = Counter(S.canonical(c) for c in S.SPACE.grid())
    assert keys["0"] == 341
    a = S.from_string("|skip~0|+|none~0|conv3~1|+|none~0|none~1|skip~2|")
    b = S.from_string("|conv1~0|+|conv3~0|none~1|+|none~0|none~1|skip~2|")   # node 1 cannot reach the output
    c = S.from_string("|none~0|+|conv3~0|none~1|+|none~0|avgpool~1|skip~2|")   # avgpool of a zero node
    assert S.canonical(a) == S.canonical(b) == S.canonical(c) == "conv3(x)"
    # the order of a sum does not matter, its multiplicity does
    f = S.from_string("|skip~0|+|none~0|none~1|+|conv3~0|skip~1|none~2|")     # conv3(x) + x
    g = S.from_string("|conv3~0|+|none~0|none~1|+|skip~0|skip~1|none~2|")     # x + conv3(x)
    assert S.canonical(f) == S.canonical(g) == "conv3(x)+x"
    two_x = S.from_string("|skip~0|+|none~0|none~1|+|skip~0|skip~1|none~2|")
    one_x = S.from_string("|skip~0|+|none~0|none~1|+|none~0|skip~1|none~2|")
    assert (S.canonical(two_x), S.canonical(one_x)) == ("x+x", "x")


def test_mutate_changes_exactly_one_edge_to_another_operation_uniformly():
    # catches: a mutation that can return the parent, that changes several edges, or a biased choice
    rng = np.random.default_rng(1)
    parent = S.from_string(EXAMPLE)
    edges, new_ops = Counter(), Counter()
    for _ in range(3000):
        child = S.mutate(parent, rng)
        changed = [k for k in parent if child[k] != parent[k]]
        assert len(changed) == 1
        edges[changed[0]] += 1
        if changed[0] == "0->1":                        # conv3 -> one of the 4 others
            new_ops[child["0->1"]] += 1
    assert set(edges) == set(S.SPACE.names) and all(abs(n / 3000 - 1 / 6) < 0.03 for n in edges.values())
    assert set(new_ops) == {"none", "skip", "conv1", "avgpool"}
    assert all(abs(n / sum(new_ops.values()) - 1 / 4) < 0.07 for n in new_ops.values())


def test_sample_is_uniform_per_edge_and_seeded():
    cells = S.sample(2000, seed=3)
    assert cells[:5] == S.sample(5, seed=3)
    for name in S.SPACE.names:
        counts = Counter(c[name] for c in cells)
        assert set(counts) == set(S.NB201_OPS) and all(abs(n / 2000 - 0.2) < 0.04 for n in counts.values())


def test_cells_keep_shape_and_all_none_all_skip_give_the_closed_forms():
    torch.manual_seed(0)
    x = torch.randn(4, 8, 20)
    for cell in S.sample(4, seed=4):
        assert S.Cell(cell, 8)(x).shape == x.shape
    none = S.from_string("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|")
    skip = S.from_string("|skip~0|+|skip~0|skip~1|+|skip~0|skip~1|skip~2|")
    assert torch.equal(S.Cell(none, 8)(x), torch.zeros_like(x))
    torch.testing.assert_close(S.Cell(skip, 8)(x), 4 * x)           # node1 = x, node2 = 2x, node3 = x + x + 2x
    # an operation on a zero node outputs exact zeros, in training mode too: canonical relies on it
    dead = S.from_string("|none~0|+|none~0|conv3~1|+|none~0|conv1~1|conv3~2|")
    cell = S.Cell(dead, 8).train()
    assert torch.equal(cell(x), torch.zeros_like(x))


def test_network_shapes_and_a_disconnected_network_ignores_its_input():
    net = S.build(S.from_string(EXAMPLE), channels=4, seed=0)
    assert net(torch.randn(5, 40)).shape == (5, 10)
    assert net.training
    dead = S.build(S.from_string("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"), channels=4, seed=0).eval()
    out = dead(torch.randn(5, 40))
    torch.testing.assert_close(out, out[:1].expand(5, -1))          # constant logits: chance accuracy
    # seeded weights, global RNG untouched
    state = torch.get_rng_state()
    a, b = S.build(S.from_string(EXAMPLE), seed=7), S.build(S.from_string(EXAMPLE), seed=7)
    assert torch.equal(torch.get_rng_state(), state)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def _closed_form_parameters(config, C, n_classes=10):
    """Stem conv 3C + BN 2C; per stage with c channels: c*c*k per conv edge (no bias, BN without
    affine); reduction c*2c + BN 2*2c; last BN 2*4C; head 4C*10 + 10."""
    per_cell = lambda c: sum({"conv1": c * c, "conv3": 3 * c * c}.get(op, 0) for op in config.values())  # noqa: E731
    total = 3 * C + 2 * C
    for stage, c in enumerate([C, 2 * C, 4 * C]):
        if stage > 0:
            total += (c // 2) * c + 2 * c
        total += per_cell(c)
    return total + 2 * 4 * C + 4 * C * n_classes + n_classes


def test_parameter_count_matches_the_closed_form():
    # catches: biases in the convolutions, affine BN in the cells, a parameter count that includes buffers
    for cell in [S.from_string(EXAMPLE), *S.sample(5, seed=5)]:
        for C in (4, 8):
            assert S.parameter_count(S.build(cell, channels=C, seed=0)) == _closed_form_parameters(cell, C)


@pytest.mark.slow   # the first FlopCounterMode call takes seconds (it loads PyTorch's decompositions)
def test_flops_match_pytorch_flop_counter():
    # catches: forgetting the factor 2 per multiply-add, the stride, the kernel size or the head
    for cell in [S.from_string(EXAMPLE), *S.sample(1, seed=6)]:
        for stride in (1, 2):
            net = S.build(cell, channels=8, stem_stride=stride, seed=0).eval()
            with FlopCounterMode(display=False) as counter, torch.no_grad():
                net(torch.zeros(1, 40))
            assert S.flops(net) == counter.get_total_flops()
            assert net.training is False


def test_latency_is_a_positive_measurement_and_restores_the_mode():
    net = S.build(S.from_string(EXAMPLE), seed=0)
    seconds = S.latency(net, repeats=5, warmup=1)
    assert 0 < seconds < 1 and net.training
