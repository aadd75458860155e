"""Graded tests for ex06_supernet.py (a child's weights from the ENAS supernet). Oracles:
minilib.nas.enas.child_state_dict and a standalone CellNetwork loaded with the child's weights."""

import ex06_supernet as ex
import excheck as check
import numpy as np
import pytest
import torch

from minilib.nas import enas as reference
from minilib.nas.space import CellNetwork, from_string, sample

FORBIDDEN_IMPORTS = ["minilib.nas.enas"]


def _numpy_state(supernet):
    return {k: v.detach().numpy().copy() for k, v in supernet.state_dict().items()}


def _checked_child(super_state, config):
    got = check.mapping(ex.child_state({k: v.copy() for k, v in super_state.items()}, dict(config)))
    for key in got:
        assert type(key) is str, f"the keys should be str, got {type(key).__name__}"
    return {k: check.array(v, shape=super_state_shape(v), what=k) for k, v in got.items()}


def super_state_shape(v):
    return None if type(v) is not np.ndarray else v.shape


def _compare(super_state, config, supernet):
    expected = {k: v.numpy() for k, v in reference.child_state_dict(supernet, config).items()}
    got = _checked_child(super_state, config)
    assert sorted(got) == sorted(expected), (f"names differ: missing {sorted(set(expected) - set(got))[:3]}, "
                                             f"extra {sorted(set(got) - set(expected))[:3]}")
    for k in expected:
        check.close(got[k], expected[k], rtol=0, atol=0, what=k)
    return got


@pytest.mark.points(1)
def test_child_state_names_and_values():
    supernet = reference.build_supernet(channels=4, stages=2, stem_stride=2, seed=0)
    state = _numpy_state(supernet)
    config = from_string("|conv3~0|+|skip~0|conv1~1|+|avgpool~0|conv3~1|conv1~2|")
    got = _compare(state, config, supernet)
    assert "cells.0.edges.0_1.1.weight" in got and "stem.0.weight" in got


@pytest.mark.points(1)
def test_child_state_with_none_edges_and_copies():
    supernet = reference.build_supernet(channels=4, stages=2, stem_stride=2, seed=1)
    state = _numpy_state(supernet)
    config = from_string("|none~0|+|conv3~0|none~1|+|skip~0|none~1|avgpool~2|")
    got = _compare(state, config, supernet)
    assert not any(k.startswith("cells.0.edges.0_1") for k in got), "an edge with 'none' keeps no tensor"
    key = "cells.0.edges.0_2.1.weight"
    original = state["cells.0.edges.0_2.conv3.1.weight"].copy()
    returned = ex.child_state(state, config)[key]
    returned += 1.0
    check.close(state["cells.0.edges.0_2.conv3.1.weight"], original, rtol=0, atol=0,
                what="the supernet's tensor after changing the child's copy")


@pytest.mark.points(1)
@pytest.mark.hidden
def test_child_state_loads_into_a_standalone_network_that_computes_the_same():
    sizes = {"channels": 4, "cells_per_stage": 2, "stages": 2, "stem_stride": 2}
    supernet = reference.build_supernet(**sizes, seed=3)
    with torch.no_grad():
        for p in supernet.parameters():
            p.add_(0.1 * torch.randn_like(p))
    state = _numpy_state(supernet)
    X = torch.randn(16, 40, generator=torch.Generator().manual_seed(2))
    for config in sample(3, seed=9):
        got = _compare(state, config, supernet)
        child = CellNetwork(config, **sizes)
        child.load_state_dict({k: torch.as_tensor(v, dtype=torch.float32) for k, v in got.items()}, strict=False)
        child.train()
        supernet.train()
        with torch.no_grad():
            torch.testing.assert_close(child(X), supernet(X, config), rtol=1e-5, atol=1e-6)
    everything_none = {edge: "none" for edge in sample(1, seed=0)[0]}
    got = check.mapping(ex.child_state(state, everything_none))
    assert not any(".edges." in k for k in got), "a cell of 'none' edges keeps no edge tensor"
    assert len(got) == sum(".edges." not in k for k in state)
