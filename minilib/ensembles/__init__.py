"""Ensembles (chapters 08-10): import the submodule you need, e.g. ``from minilib.ensembles import snapshot``.

Each algorithm is its own module, readable top to bottom; this package imports none of them eagerly.
"""
