"""Graded tests for ex00_params.py (parameter counts of the MLP and the 1-D CNN)."""

import ex00_params as ex
import excheck as check
import pytest

from minilib.models import count_parameters, make_cnn1d, make_mlp

FORBIDDEN_IMPORTS = ["minilib.models"]


def _int(value):
    return check.integer(value, "the parameter count")


@pytest.mark.points(1)
def test_mlp_chapter_baseline():
    assert _int(ex.mlp_parameter_count(40, 10, width=128, depth=2)) == 23050


@pytest.mark.points(1)
def test_mlp_depth_zero_and_one():
    assert _int(ex.mlp_parameter_count(40, 10, width=64, depth=0)) == 410
    assert _int(ex.mlp_parameter_count(3, 2, width=5, depth=1)) == 3 * 5 + 5 + 5 * 2 + 2


@pytest.mark.points(1)
@pytest.mark.hidden
def test_mlp_matches_torch():
    for in_f, out_f, width, depth in [(40, 10, 32, 3), (8, 1, 7, 4), (64, 10, 256, 1), (5, 3, 1, 2)]:
        expected = count_parameters(make_mlp(in_f, out_f, width=width, depth=depth))
        assert _int(ex.mlp_parameter_count(in_f, out_f, width, depth)) == expected


@pytest.mark.points(1)
def test_cnn_default_size():
    expected = count_parameters(make_cnn1d(10, channels=32, depth=3, kernel_size=5))
    assert _int(ex.cnn1d_parameter_count(10, channels=32, depth=3, kernel_size=5)) == expected


@pytest.mark.points(1)
@pytest.mark.hidden
def test_cnn_matches_torch():
    for out_f, channels, depth, k in [(10, 8, 1, 3), (4, 16, 2, 7), (10, 64, 4, 9)]:
        expected = count_parameters(make_cnn1d(out_f, channels=channels, depth=depth, kernel_size=k))
        assert _int(ex.cnn1d_parameter_count(out_f, channels, depth, k)) == expected
