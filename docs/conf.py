"""Sphinx configuration of the book's website (the Jupyter Book 1 stack: myst-nb + sphinx-book-theme).

Do not run sphinx-build on this folder directly: ``tools/build_site.py`` (called by ``make book``)
assembles the source tree (executed chapters, exercise READMEs, generated index and status pages)
and runs ``sphinx-build -W -c docs <source> <html>``. The notebooks are executed by
``tools/run_chapters.py`` before, so here ``nb_execution_mode = "off"``.

Offline by design: MathJax is copied from the ``sphinx-mathjax-offline`` package into the site,
the ipywidgets loader (require.js from a CDN) is switched off, and ``tools/build_site.py`` fails
when a page loads any script or style sheet over http(s).
"""

from __future__ import annotations

import shutil
from importlib import metadata
from pathlib import Path

project = "AutoML from Scratch"
author = "the AutoML from Scratch authors"
copyright = "the AutoML from Scratch authors, MIT licence"  # noqa: A001 (Sphinx's name)

extensions = ["myst_nb", "sphinx.ext.mathjax"]
exclude_patterns = ["_build", "**.ipynb_checkpoints", "Thumbs.db", ".DS_Store"]

# --- notebooks: rendered from the outputs tools/run_chapters.py wrote ---------------------------
nb_execution_mode = "off"
nb_merge_streams = True             # one block per stream instead of one per print()
nb_ipywidgets_js = {}               # no require.js / widget manager from a CDN (the book has no widgets)
nb_output_stderr = "show"           # the runner already removed the noise; what is left is meant to be read
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist", "smartquotes"]
myst_heading_anchors = 3
# a notebook's own heading structure (e.g. "###" right after "#") is a style question, not a broken page
suppress_warnings = ["myst.header"]

# --- math without a network: MathJax 3 from the sphinx-mathjax-offline package ------------------
mathjax_path = "mathjax/tex-chtml.js"
# the parts of MathJax that tex-chtml.js loads at run time (fonts, TeX extensions, the menu):
_MATHJAX_PARTS = ["tex-chtml.js", "output/chtml", "input/tex/extensions", "ui", "a11y", "adaptors"]

# --- theme -----------------------------------------------------------------------------------------
html_theme = "sphinx_book_theme"
html_title = "AutoML from Scratch"
html_static_path = ["_static"]
html_css_files = ["book.css"]
html_copy_source = True             # the download button offers the executed .ipynb ...
html_sourcelink_suffix = ""         # ... under its own name, not as .ipynb.txt
html_last_updated_fmt = "%Y-%m-%d"
html_theme_options = {
    "home_page_in_toc": True,
    "show_toc_level": 2,
    "show_navbar_depth": 1,
    "use_download_button": True,
    "use_fullscreen_button": False,
    "use_repository_button": False,
    "navigation_with_keys": False,
    "launch_buttons": {},
}


def _copy_mathjax(app, exc) -> None:
    if exc is not None:
        return
    dist = metadata.distribution("sphinx-mathjax-offline")
    source = Path(dist.locate_file("sphinx-mathjax-offline/static/mathjax"))
    target = Path(app.outdir) / "_static" / "mathjax"
    for part in _MATHJAX_PARTS:
        if (source / part).is_dir():
            shutil.copytree(source / part, target / part, dirs_exist_ok=True)
        else:
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / part, target / part)


def setup(app) -> None:
    app.connect("build-finished", _copy_mathjax)
