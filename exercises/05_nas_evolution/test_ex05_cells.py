"""Graded tests for ex05_cells.py (the NAS-Bench-201 string, pruning dead edges)."""

import ex05_cells as ex
import excheck as check
import numpy as np
import pytest

from minilib.nas import space as S

FORBIDDEN_IMPORTS = ["minilib.nas.space"]

EXAMPLE = {"0->1": "conv3", "0->2": "skip", "1->2": "conv3", "0->3": "none", "1->3": "avgpool", "2->3": "conv1"}
EXAMPLE_STRING = "|conv3~0|+|skip~0|conv3~1|+|none~0|avgpool~1|conv1~2|"


def _cell(value):
    out = check.mapping(value, "the cell")
    assert list(out) == list(S.SPACE.dimensions), f"keys must be {list(S.SPACE.dimensions)} in that order"
    for edge, op in out.items():
        assert type(op) is str, f"{edge}: expected a str, got {type(op).__name__}"
    return {edge: str(op) for edge, op in out.items()}


def _string(value):
    assert type(value) is str, f"expected a str, got {type(value).__name__}"
    return str(value)


def _random_cells(n, seed):
    return S.SPACE.sample(n, rng=np.random.default_rng(seed))


# --- task 1: the string encoding ---------------------------------------------------------

@pytest.mark.points(1)
def test_to_string_example():
    assert _string(ex.to_string(dict(EXAMPLE))) == EXAMPLE_STRING


@pytest.mark.points(1)
@pytest.mark.hidden
def test_to_string_matches_nas_bench_201_format_on_random_cells():
    for cell in _random_cells(50, 3):
        assert _string(ex.to_string(dict(cell))) == S.to_string(cell)


@pytest.mark.points(1)
def test_from_string_round_trip():
    assert _cell(ex.from_string(EXAMPLE_STRING)) == EXAMPLE
    other = "|skip~0|+|none~0|avgpool~1|+|conv1~0|conv3~1|skip~2|"
    assert _cell(ex.from_string(other)) == S.from_string(other)


@pytest.mark.points(1)
def test_from_string_rejects_malformed_strings():
    for bad in ("|conv3~0|+|skip~0|conv3~1|",                          # two groups
                "|conv3~0|+|skip~0|+|none~0|avgpool~1|conv1~2|",         # a group too short
                "|conv3~0|+|conv3~1|skip~0|+|none~0|avgpool~1|conv1~2|",  # sources out of order
                "|conv5~0|+|skip~0|conv3~1|+|none~0|avgpool~1|conv1~2|"):  # unknown operation
        with pytest.raises(ValueError):
            ex.from_string(bad)


@pytest.mark.points(1)
@pytest.mark.hidden
def test_from_string_inverts_to_string_on_random_cells():
    for cell in _random_cells(50, 4):
        assert _cell(ex.from_string(S.to_string(cell))) == cell


# --- task 2: live edges ----------------------------------------------------------------------

def _edges(value):
    out = check.sequence(value, None, "the live edges", kinds=(list,))
    assert all(type(e) is str for e in out), "edges must be str like '0->1'"
    return [str(e) for e in out]


@pytest.mark.points(1)
def test_live_edges_example():
    cell = {"0->1": "conv3", "0->2": "avgpool", "1->2": "skip", "0->3": "skip", "1->3": "conv1", "2->3": "none"}
    assert _edges(ex.live_edges(cell)) == ["0->1", "0->3", "1->3"]


@pytest.mark.points(2)
def test_live_edges_unfed_nodes_and_empty_cells():
    unfed = {"0->1": "none", "0->2": "conv1", "1->2": "conv3", "0->3": "none", "1->3": "skip", "2->3": "conv3"}
    assert _edges(ex.live_edges(unfed)) == ["0->2", "2->3"]          # node 1 receives nothing
    assert _edges(ex.live_edges({e: "none" for e in ex.EDGES})) == []
    cut = {"0->1": "conv3", "0->2": "conv3", "1->2": "skip", "0->3": "none", "1->3": "none", "2->3": "none"}
    assert _edges(ex.live_edges(cut)) == []                          # nothing reaches the output
    full = {e: "conv3" for e in ex.EDGES}
    assert _edges(ex.live_edges(full)) == list(ex.EDGES)


@pytest.mark.points(2)
@pytest.mark.hidden
def test_pruning_dead_edges_keeps_the_function():
    # oracle: minilib's canonical key (one key per function). Replacing every edge that is not live by
    # 'none' must give an isomorphic cell; and a live edge removed changes the key in these random cells
    # often enough that returning every non-none edge (nothing pruned) cannot pass the first check
    # together with the count below.
    pruned_something = 0
    for cell in _random_cells(300, 5):
        live = _edges(ex.live_edges(dict(cell)))
        pruned = {e: (op if e in live else "none") for e, op in cell.items()}
        assert S.canonical(pruned) == S.canonical(cell), (cell, live)
        assert all(cell[e] != "none" for e in live)
        pruned_something += sum(op != "none" for op in cell.values()) - len(live)
    assert pruned_something > 0
    expected = {e: op for e, op in _random_cells(1, 6)[0].items()}
    manual = [e for e in ex.EDGES if expected[e] != "none"]
    assert set(_edges(ex.live_edges(expected))) <= set(manual)
