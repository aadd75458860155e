"""The book's website: tools/build_site.py (index and status pages, the offline check, a real build).

The full site is built by `make book` and by `make test`'s site check from the real chapters;
these tests build a two-chapter site from small notebooks made here, with the real docs/conf.py.
"""

import importlib
import json
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
build_site = importlib.import_module("build_site")
run_chapters = importlib.import_module("run_chapters")
timing_table = importlib.import_module("timing_table")


def _notebook(title: str, goals: list[str], body: str = "", outputs: list | None = None):
    nb = nbformat.v4.new_notebook()
    head = f"# {title}\n\n**Learning goals**\n\n" + "\n".join(f"- {g}" for g in goals)
    head += "\n\n**Where the ideas come from.** A paper.\n"
    code = nbformat.v4.new_code_cell("print('hello')")
    code.outputs = outputs if outputs is not None else [nbformat.v4.new_output("stream", name="stdout",
                                                                                 text="hello\n")]
    nb.cells = [nbformat.v4.new_markdown_cell(head), code, nbformat.v4.new_markdown_cell(body or "## 1. Part\n\nText.")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def test_chapter_info_reads_title_and_goal_bullets(tmp_path):
    # catches: the "**Learning goals**" line taken as a goal, a bullet continued on the next line cut off,
    # the "Where the ideas come from" paragraph read as a goal
    nb = _notebook("Chapter 07 — Something", ["first goal;", "second goal that goes on"])
    nb.cells[0].source = nb.cells[0].source.replace("goes on", "goes on\n  over two lines")
    nbformat.write(nb, tmp_path / "07_x.ipynb")
    info = build_site.chapter_info(tmp_path / "07_x.ipynb")
    assert info["title"] == "Chapter 07 — Something"
    assert info["goals"] == ["first goal", "second goal that goes on over two lines"]


def test_chapter_without_goals_gets_its_first_paragraph(tmp_path):
    nb = _notebook("Chapter 08 — Other", [])
    nb.cells[0].source = "# Chapter 08 — Other\n\nThis chapter builds an ensemble.\n\n## 1. More"
    nbformat.write(nb, tmp_path / "08_y.ipynb")
    info = build_site.chapter_info(tmp_path / "08_y.ipynb")
    assert info["goals"] == [] and info["summary"] == "This chapter builds an ensemble."


def test_index_lists_every_chapter_of_the_repository_with_its_exercises():
    # oracle: the files in chapters/ and exercises/; catches a hard-coded chapter list and an
    # exercises link for a chapter that has none (a broken link)
    chapters = run_chapters.find_chapters([])
    page = build_site.index_page(chapters, timing_table.load_record(), {}, {p.stem for p in chapters})
    for path in chapters:
        assert f"](chapters/{path.name})" in page
        assert f"chapters/{path.stem}\n" in page                               # in the sidebar's toctree
        has_exercises = (ROOT / "exercises" / path.stem / "README.md").exists()
        assert (f"(exercises/{path.stem}/README.md)" in page) == has_exercises
        assert build_site.chapter_info(path)["title"] in page


def test_index_and_status_show_the_recorded_run_times():
    record = {"00_a": {"full": {"seconds": 14.2, "measured": "2026-11-23", "machine": "2 CPU cores"},
                       "quick": {"seconds": 5.0, "measured": "2026-11-24", "machine": "2 CPU cores"}}}
    chapters = [Path("00_a.ipynb"), Path("01_b.ipynb")]
    this_build = {"01_b": {"seconds": 3.4, "measured": "2026-11-30", "mode": "quick"}}
    status = build_site.status_page(chapters, record, this_build)
    # the README's table (same function) with both chapters, one not measured by `make timings` yet
    assert timing_table.table(record, ["00_a", "01_b"]) in status
    assert "| `00_a` | 14 s | 5 s | 2026-11-23, 2026-11-24 |" in status
    assert "| `01_b` | — | — | — |" in status
    assert "| `01_b` | quick | 3 s | 2026-11-30 |" in status
    assert "2 CPU cores" in status


def test_remote_loads_flags_scripts_styles_and_fonts_but_not_links(tmp_path):
    # catches a check that only looks for "https://" (misses protocol-relative URLs) or that flags
    # ordinary links a reader clicks
    (tmp_path / "a.html").write_text(
        '<script src="https://cdn.example.org/mathjax.js"></script>'
        '<link rel="stylesheet" href="//fonts.example.org/css">'
        '<script src="_static/local.js"></script><link rel="stylesheet" href="_static/book.css">'
        '<a href="https://arxiv.org/abs/1603.06560">Hyperband</a>'
        '<link rel="canonical" href="https://example.org/book/">')
    (tmp_path / "s.css").write_text('@import url("https://fonts.example.org/x.css"); '
                                    'src: url(../fonts/local.woff2); b { background: url(http://x.org/i.png) }')
    found = sorted(url for _, url in build_site.remote_loads(tmp_path))
    assert found == ["//fonts.example.org/css", "http://x.org/i.png", "https://cdn.example.org/mathjax.js",
                     "https://fonts.example.org/x.css"]


def _mini_repo(tmp_path, monkeypatch, exercise_readme: str):
    """Two executed chapters, one exercise folder, a CONTRIBUTING.md: a repository in miniature."""
    chapters, exercises, executed = tmp_path / "chapters", tmp_path / "exercises", tmp_path / "build" / "executed"
    for folder in (chapters, exercises / "00_a", executed):
        folder.mkdir(parents=True)
    math = ("## 1. Math\n\nThe posterior mean $\\mu(x) = k(x)^\\top K^{-1} y$ and\n\n"
            "$$\\alpha(x) = \\mathbb{E}[I(x)]$$\n")
    for stem, title in (("00_a", "Chapter 00 — First"), ("01_b", "Chapter 01 — Second")):
        nb = _notebook(title, ["learn a thing", "learn another"],
                       math + "\nSee the [exercises](../exercises/00_a/README.md).")
        nbformat.write(_notebook(title, ["learn a thing"]), chapters / f"{stem}.ipynb")   # no outputs
        nbformat.write(nb, executed / f"{stem}.ipynb")
    (exercises / "README.md").write_text("# Exercises\n\nHow they work.\n")
    (exercises / "00_a" / "README.md").write_text(exercise_readme)
    (tmp_path / "CONTRIBUTING.md").write_text("# Contributing\n\nRules.\n")
    (executed.parent / "timings-quick.json").write_text(json.dumps(
        {"00_a": {"seconds": 1.5, "measured": "2026-11-30", "machine": "test"}}))
    monkeypatch.setattr(run_chapters, "CHAPTERS", chapters)
    monkeypatch.setattr(build_site, "EXERCISES", exercises)
    monkeypatch.setattr(build_site, "ROOT", tmp_path)
    monkeypatch.setattr(timing_table, "RECORD", tmp_path / "timings.json")
    return executed, tmp_path / "build" / "html"


@pytest.mark.slow
def test_site_builds_offline_with_titles_navigation_search_and_math(tmp_path, monkeypatch, capsys):
    # a real sphinx-build -W with docs/conf.py; catches a CDN script (MathJax, require.js), a missing
    # MathJax copy, pages without real titles or previous/next links, no search index, no download link
    executed, out = _mini_repo(tmp_path, monkeypatch,
                               "# Exercises for chapter 00\n\nChapter: [00](../../chapters/00_a.ipynb).\n")
    assert build_site.main(["--executed", str(executed), "--out", str(out), "--require-all"]) == 0
    assert "no network loads" in capsys.readouterr().out
    assert build_site.remote_loads(out) == []
    page = (out / "chapters" / "00_a.html").read_text()
    assert "<title>Chapter 00 — First" in page
    assert 'href="01_b.html"' in page and "next" in page.lower()                # previous/next links
    assert "_static/mathjax/tex-chtml.js" in page and (out / "_static/mathjax/tex-chtml.js").exists()
    assert (out / "_static/mathjax/output/chtml/fonts/woff-v2").is_dir()        # fonts MathJax loads
    assert "00_a.ipynb" in page and (out / "_sources" / "chapters" / "00_a.ipynb").exists()   # download
    assert (out / "searchindex.js").exists() and (out / "search.html").exists()
    index = (out / "index.html").read_text()
    assert "learn a thing" in index and "exercises/00_a/README.html" in index
    assert "1.5 s" in (out / "status.html").read_text() or "2 s" in (out / "status.html").read_text()


@pytest.mark.slow
def test_site_build_fails_on_a_broken_link(tmp_path, monkeypatch):
    # -W: an exercise README that links to a chapter that does not exist fails the build
    executed, out = _mini_repo(tmp_path, monkeypatch,
                               "# Exercises for chapter 00\n\nChapter: [00](../../chapters/00_missing.ipynb).\n")
    assert build_site.main(["--executed", str(executed), "--out", str(out)]) == 1


def test_require_all_fails_without_executed_notebooks(tmp_path, monkeypatch):
    executed, out = _mini_repo(tmp_path, monkeypatch, "# Exercises\n")
    (executed / "01_b.ipynb").unlink()
    with pytest.raises(SystemExit, match="01_b"):
        build_site.main(["--executed", str(executed), "--out", str(out), "--require-all"])
