"""The small PyTorch models the book trains: an MLP and a 1-D CNN for MNIST-1D.

Both are built from hyperparameters, so that a search can build one per configuration.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import torch
from torch import nn

M = TypeVar("M", bound=nn.Module)

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU, "sigmoid": nn.Sigmoid}


def _activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {name!r}")
    return ACTIVATIONS[name]()


def build_seeded(build: Callable[[], M], seed: int | None = None, generator: torch.Generator | None = None) -> M:
    """Call ``build()`` with PyTorch's global RNG seeded by ``seed`` (or by a seed drawn from
    ``generator``), then restore the global RNG: the weights depend on the seed alone, and the
    caller's random stream is left untouched. With neither, ``build()`` uses the global RNG."""
    if seed is not None and generator is not None:
        raise ValueError("pass seed or generator, not both")
    if generator is not None:
        seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    if seed is None:
        return build()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


def make_mlp(in_features: int, out_features: int, width: int = 128, depth: int = 2,
             activation: str = "relu", dropout: float = 0.0, seed: int | None = None,
             generator: torch.Generator | None = None) -> nn.Sequential:
    """``depth`` hidden layers of ``width`` units, each followed by the activation and dropout.

    ``seed`` (or ``generator``) fixes the initial weights without reseeding the global RNG."""
    if depth < 0 or width < 1 or not 0.0 <= dropout < 1.0:
        raise ValueError(f"need depth >= 0, width >= 1, 0 <= dropout < 1; got {depth}, {width}, {dropout}")
    return build_seeded(lambda: _mlp(in_features, out_features, width, depth, activation, dropout), seed, generator)


def _mlp(in_features: int, out_features: int, width: int, depth: int, activation: str,
         dropout: float) -> nn.Sequential:
    layers: list[nn.Module] = []
    size = in_features
    for _ in range(depth):
        layers += [nn.Linear(size, width), _activation(activation)]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        size = width
    layers.append(nn.Linear(size, out_features))
    return nn.Sequential(*layers)


class CNN1D(nn.Module):
    """A small 1-D convolutional network: ``depth`` conv layers of ``channels`` filters,
    then global average pooling and a linear classifier. Input shape (batch, length)."""

    def __init__(self, out_features: int = 10, channels: int = 32, depth: int = 3, kernel_size: int = 5,
                 activation: str = "relu"):
        super().__init__()
        if depth < 1 or channels < 1 or kernel_size < 1:
            raise ValueError(f"need depth, channels, kernel_size >= 1; got {depth}, {channels}, {kernel_size}")
        layers: list[nn.Module] = []
        size = 1
        for i in range(depth):
            layers += [nn.Conv1d(size, channels, kernel_size, stride=2 if i == 0 else 1,
                                 padding=kernel_size // 2), _activation(activation)]
            size = channels
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(channels, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.features(x.unsqueeze(1))  # (B, 1, L) -> (B, C, L')
        return self.head(h.mean(dim=2))    # global average pool -> (B, C) -> (B, classes)


def make_cnn1d(out_features: int = 10, channels: int = 32, depth: int = 3, kernel_size: int = 5,
               activation: str = "relu", seed: int | None = None, generator: torch.Generator | None = None) -> CNN1D:
    """A ``CNN1D`` whose initial weights come from ``seed`` (or ``generator``), global RNG untouched."""
    return build_seeded(lambda: CNN1D(out_features, channels, depth, kernel_size, activation), seed, generator)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
