"""Graded tests for ex04_hyperband.py (Hyperband schedule)."""

import math

import ex04_hyperband as ex
import excheck as check
import pytest

from minilib.hpo.hyperband import hyperband_schedule

FORBIDDEN_IMPORTS = ["minilib.hpo.hyperband", "minilib.hpo.successive_halving"]

R81 = [[81, 27, 9, 3, 1], [34, 11, 3, 1], [15, 5, 1], [8, 2], [5]]


@pytest.mark.points(1)
def test_s_max_small():
    assert [check.integer(ex.s_max(R, 3)) for R in (1, 2, 3, 8, 9, 26, 27, 81)] == [0, 0, 1, 1, 2, 2, 3, 4]


@pytest.mark.points(1)
def test_s_max_float_trap():
    assert math.log(243, 3) < 5
    assert check.integer(ex.s_max(243, 3)) == 5
    assert check.integer(ex.s_max(1000, 10)) == 3


@pytest.mark.points(1)
@pytest.mark.hidden
def test_s_max_rejects_bad_eta():
    with pytest.raises(ValueError):
        ex.s_max(81, 1)
    with pytest.raises(ValueError):
        ex.s_max(81, 2.5)
    assert ex.s_max(2 ** 20, 2) == 20 and ex.s_max(2 ** 20 - 1, 2) == 19


@pytest.mark.points(1)
def test_brackets_eta2():
    # eta is used everywhere: R = 8, eta = 2 has s_max = 3 and four brackets
    brackets = check.sequence(ex.hyperband_brackets(8, 2), 4, "the brackets", kinds=(list,))
    assert [[check.integer(n) for n, _ in b] for b in brackets] == [[8, 4, 2, 1], [6, 3, 1], [4, 2], [4]]
    assert [[check.number(r) for _, r in b] for b in brackets] == [[1, 2, 4, 8], [2, 4, 8], [4, 8], [8]]


@pytest.mark.points(3)
def test_brackets_R81_eta3():
    brackets = ex.hyperband_brackets(81, 3)
    assert isinstance(brackets, list) and len(brackets) == 5
    assert all(isinstance(b, list) and all(len(rung) == 2 for rung in b) for b in brackets)
    assert [[n for n, _ in b] for b in brackets] == R81
    assert [[float(r) for _, r in b] for b in brackets] == [[1, 3, 9, 27, 81], [3, 9, 27, 81], [9, 27, 81],
                                                             [27, 81], [81]]


@pytest.mark.points(2)
@pytest.mark.hidden
def test_brackets_match_minilib():
    for R, eta in [(27, 3), (243, 3), (16, 2), (100, 4)]:
        mine = ex.hyperband_brackets(R, eta)
        ref = hyperband_schedule(R, eta)
        assert [[n for n, _ in b] for b in mine] == [[n for n, _ in b] for b in ref], (R, eta)
        for b_mine, b_ref in zip(mine, ref):
            assert [float(r) for _, r in b_mine] == pytest.approx([float(r) for _, r in b_ref]), (R, eta)


@pytest.mark.points(1)
def test_total_cost_R81():
    evaluations, units = ex.total_cost(hyperband_schedule(81, 3))
    assert (evaluations, units) == (206, 1902)


@pytest.mark.points(1)
@pytest.mark.hidden
def test_total_cost_table_variant():
    n, units = check.sequence(ex.total_cost(hyperband_schedule(81, 3, variant="table")), 2)
    assert (check.integer(n, "evaluations"), check.number(units, "budget units")) == (187, 1701)
    n, units = check.sequence(ex.total_cost([[(4, 1.5), (2, 3), (1, 6)]]), 2)
    assert (check.integer(n, "evaluations"), check.number(units, "budget units")) == (7, 18.0)
