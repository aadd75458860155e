"""Execute every chapter notebook in quick mode; any error fails the test.

One test per notebook, each with its own time limit, so a slow or broken chapter is
named in the report. The executed notebooks are kept in ``_build/test/executed/``:
``make test`` builds the website from them (``tools/build_site.py``) instead of
executing the chapters a second time.
"""

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("run_chapters", ROOT / "tools" / "run_chapters.py")
run_chapters = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(run_chapters)

NOTEBOOKS = run_chapters.find_chapters([])
EXECUTED = ROOT / "_build" / "test" / "executed"  # read by the site check in `make test`
NOTEBOOK_TIMEOUT = 240  # seconds per chapter in quick mode; the book promises well under 60


def test_there_are_chapters():
    assert [nb.name[:2] for nb in NOTEBOOKS][:2] == ["00", "01"]


@pytest.mark.timeout(NOTEBOOK_TIMEOUT)
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[nb.stem for nb in NOTEBOOKS])
def test_chapter_runs_in_quick_mode(notebook):
    nb, seconds, error = run_chapters.execute(notebook, timeout=NOTEBOOK_TIMEOUT, quick=True)
    run_chapters.save(nb, EXECUTED / notebook.name)
    assert error is None, error


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[nb.stem for nb in NOTEBOOKS])
def test_chapter_is_committed_without_outputs(notebook):
    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not dirty, f"{notebook.name}: code cells {dirty} have outputs; clear them before committing"
