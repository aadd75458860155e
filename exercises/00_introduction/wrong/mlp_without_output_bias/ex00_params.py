"""PLAUSIBLE WRONG SUBMISSION 'mlp_without_output_bias' (selfcheck requires it to lose points).

Mistake: forgets the output layer's biases.

Exercise 00 (part 2): count the parameters of the book's two baseline networks by hand.

Chapter 00 contrasts *parameters* (the weights that training fits) with *hyperparameters* (width,
depth, learning rate: the numbers we choose). A closed form for the number of parameters shows how
each hyperparameter changes the size of the model. Do not import ``minilib.models`` or build a torch
model here: the tests compare your formula with ``count_parameters(make_mlp(...))``.
"""

from __future__ import annotations


def mlp_parameter_count(in_features: int, out_features: int, width: int, depth: int) -> int:
    """Number of weights and biases of ``minilib.models.make_mlp(in_features, out_features, width, depth)``.

    The network is ``depth`` hidden ``Linear`` layers of ``width`` units (each with a bias), then a
    ``Linear`` output layer; activations and dropout have no parameters. ``depth = 0`` is a single
    linear layer from the inputs to the outputs.

    >>> mlp_parameter_count(40, 10, width=128, depth=2)
    23050
    """
    ### BEGIN SOLUTION
    if depth == 0:
        return in_features * out_features + out_features
    first = in_features * width + width
    hidden = (depth - 1) * (width * width + width)
    return first + hidden + width * out_features
    ### END SOLUTION


def cnn1d_parameter_count(out_features: int, channels: int, depth: int, kernel_size: int) -> int:
    """Number of parameters of ``minilib.models.make_cnn1d(out_features, channels, depth, kernel_size)``.

    ``depth`` ``Conv1d`` layers with ``channels`` filters of width ``kernel_size`` and a bias each (the
    first has 1 input channel, the others ``channels``), global average pooling (no parameters), and a
    ``Linear(channels, out_features)`` head.
    """
    ### BEGIN SOLUTION
    first = 1 * channels * kernel_size + channels
    rest = (depth - 1) * (channels * channels * kernel_size + channels)
    return first + rest + channels * out_features + out_features
    ### END SOLUTION
