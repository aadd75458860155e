"""Helpers for the chapters themselves: showing minilib's real source in a notebook.

A chapter that explains an algorithm calls ``show_source(minilib.hpo.RandomSearch)``
instead of pasting a copy, so the book and the library can never drift apart.
"""

from __future__ import annotations

import inspect
from typing import Any


def source_of(obj: Any) -> str:
    """The source code of a module, class or function, as a string."""
    return inspect.getsource(obj)


def show_source(obj: Any) -> None:
    """Display the source of ``obj`` as a highlighted code block (plain text outside Jupyter)."""
    code = source_of(obj)
    try:
        from IPython import get_ipython
        from IPython.display import Markdown, display
    except ImportError:
        print(code)
        return
    if get_ipython() is None:
        print(code)
    else:
        display(Markdown(f"```python\n{code}\n```"))
