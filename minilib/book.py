"""Helpers for the chapters themselves: showing minilib's real source in a notebook.

A chapter that explains an algorithm calls ``show_source(minilib.hpo.RandomSearch)``
instead of pasting a copy, so the book and the library can never drift apart.

In Jupyter (and on the book's website) the listing is a foldable block: a ``<details>``
element whose summary names the object, its file and its length, around the highlighted
code in a monospace font on a shaded background. Long listings start folded, so that a
chapter reads as prose with the code one click away; short ones start open. Outside
Jupyter (a terminal, a script) ``show_source`` prints the plain source.
"""

from __future__ import annotations

import html
import inspect
import textwrap
from pathlib import Path
from typing import Any

FOLD_AFTER_LINES = 30
"""Listings longer than this start folded when ``show_source`` is not told otherwise."""

_BLOCK_STYLE = ("background:#f6f8fa; border-radius:4px; padding:0.5em 0.7em; margin:0.4em 0 0 0; "
                "overflow-x:auto")
_PRE_STYLE = ("font-family:SFMono-Regular,Menlo,Consolas,'DejaVu Sans Mono',monospace; font-size:0.82em; "
              "line-height:1.35; white-space:pre-wrap; overflow-wrap:anywhere; margin:0; padding:0; border:0; "
              "background:transparent; box-shadow:none")


def source_of(obj: Any) -> str:
    """The source code of a module, class or function, as a string."""
    return inspect.getsource(obj)


def _name_of(obj: Any) -> str:
    """``RandomSearch`` or ``TPE.ask`` for a class, function or method, the module's name for a module
    (the file, shown next to it, says where it lives)."""
    if inspect.ismodule(obj):
        return obj.__name__
    return getattr(obj, "__qualname__", getattr(obj, "__name__", type(obj).__name__))


def _file_of(obj: Any) -> str | None:
    """The file the source comes from, relative to the repository (``minilib/hpo/random.py``)."""
    try:
        path = Path(inspect.getsourcefile(obj) or "")
    except TypeError:
        return None
    parts = path.parts
    return "/".join(parts[parts.index("minilib"):]) if "minilib" in parts else path.name or None


class SourceListing:
    """A listing that Jupyter shows as folded HTML (Markdown and plain text as fall-backs).

    Args:
        code: the source text.
        name: what the summary line calls it, e.g. ``RandomSearch`` or ``TPE.ask``.
        filename: the file it comes from, shown in the summary (optional).
        folded: start folded; ``None`` folds listings longer than ``FOLD_AFTER_LINES`` lines.
    """

    def __init__(self, code: str, name: str, filename: str | None = None, folded: bool | None = None):
        self.code = textwrap.dedent(code).strip("\n") + "\n"     # a method's source is indented
        self.name = name
        self.filename = filename
        self.n_lines = self.code.count("\n")
        self.folded = self.n_lines > FOLD_AFTER_LINES if folded is None else bool(folded)

    def summary(self) -> str:
        where = f"{self.filename}, " if self.filename else ""
        return f"{self.name} ({where}{self.n_lines} lines)"

    def _highlighted(self) -> str:
        """The code as HTML with inline colours (no style sheet needed), or escaped if Pygments is absent."""
        try:
            from pygments import highlight
            from pygments.formatters import HtmlFormatter
            from pygments.lexers import PythonLexer
        except ImportError:
            return f'<pre style="{_PRE_STYLE}">{html.escape(self.code)}</pre>'
        formatter = HtmlFormatter(noclasses=True, nobackground=True, style="default", prestyles=_PRE_STYLE,
                                  cssclass="minilib-source-code")
        return highlight(self.code, PythonLexer(), formatter)

    def _repr_html_(self) -> str:
        where = f"{html.escape(self.filename)}, " if self.filename else ""
        head = (f'<code style="font-weight:600">{html.escape(self.name)}</code> '
                f'<span style="font-weight:normal">({where}{self.n_lines} lines)</span>')
        state = "" if self.folded else " open"
        return (f'<details class="minilib-source"{state}><summary>{head}</summary>'
                f'<div style="{_BLOCK_STYLE}">{self._highlighted()}</div></details>')

    def _repr_markdown_(self) -> str:
        return f"*Source of {self.summary()}*\n\n```python\n{self.code}```\n"

    def __repr__(self) -> str:
        return f"# {self.summary()}\n{self.code}"


def show_source(obj: Any, folded: bool | None = None) -> None:
    """Display the source of ``obj``: a foldable, highlighted block in Jupyter, plain text elsewhere.

    Args:
        obj: a module, class, function or method of ``minilib`` (anything ``inspect.getsource`` reads).
        folded: start the listing folded (``True``) or open (``False``); by default listings longer
            than ``FOLD_AFTER_LINES`` lines start folded.
    """
    code = source_of(obj)
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:
        print(code)
        return
    if get_ipython() is None:
        print(code)
    else:
        display(SourceListing(code, _name_of(obj), _file_of(obj), folded))
