"""Render the executed chapters as the book's website (the second half of ``make book``).

    python tools/build_site.py [--executed _build/executed] [--out _build/html] [--require-all]

Nothing is executed here: the chapters were run by ``tools/run_chapters.py`` (``make book``)
or by ``tests/test_chapters.py`` (``make test``), and Sphinx renders their outputs with myst-nb
and sphinx-book-theme (``docs/conf.py``, ``nb_execution_mode = "off"``). The steps:

1. assemble a source tree next to the output (``_build/site-src``): the executed notebooks
   under ``chapters/``, the exercise folders under ``exercises/`` (same relative paths as in
   the repository, so the links between chapters and exercises work), CONTRIBUTING.md, and two
   generated pages: ``index.md`` (every chapter in ``chapters/``: its title, its learning goals,
   its run time, a link to its exercises) and ``status.md`` (the run-time table of
   ``tools/timing_table.py``, the same as README.md's, plus this build's own times);
2. ``sphinx-build -W --keep-going`` into ``--out``: any warning (a broken link to a chapter or an
   exercise, a missing page) fails the build;
3. check that no page loads a script, style sheet, font or image over the network.

It prints the build time and the size of the site. Exit status 0 only if all three steps pass.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

import timing_table  # noqa: E402  (a sibling script)

CHAPTERS = ROOT / "chapters"
EXERCISES = ROOT / "exercises"
DOCS = ROOT / "docs"


# --- reading a chapter ----------------------------------------------------------------------------

def _markdown_cells(nb_path: Path) -> list[str]:
    import nbformat

    nb = nbformat.read(nb_path, as_version=4)
    return [c.source for c in nb.cells if c.cell_type == "markdown"]


def chapter_info(nb_path: Path) -> dict:
    """Title (the first heading), learning goals (the bullets after "Learning goals", else the first
    paragraph after the title) of one chapter notebook."""
    cells = _markdown_cells(nb_path)
    text = "\n\n".join(cells)
    heading = re.search(r"^#\s+(.+?)\s*$", text, flags=re.M)
    title = heading.group(1) if heading else nb_path.stem.replace("_", " ")
    goals: list[str] = []
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if re.search(r"learning goals", line, flags=re.I)), None)
    if start is not None:
        for line in lines[start + 1:]:
            if re.match(r"\s*[-*]\s+", line):
                goals.append(re.sub(r"^\s*[-*]\s+", "", line).strip())
            elif goals and line.strip() and line.startswith((" ", "\t")):
                goals[-1] += " " + line.strip()        # a bullet continued on the next line
            elif goals and not line.strip():
                continue
            elif goals or (line.strip() and not line.strip().startswith("**")):
                break
    summary = ""
    if not goals:
        after = text[heading.end():] if heading else text
        paragraphs = [p.strip() for p in re.split(r"\n\s*\n", after) if p.strip() and not p.lstrip().startswith("#")]
        summary = paragraphs[0] if paragraphs else ""
    return {"title": title, "goals": [g.rstrip(";.") for g in goals], "summary": summary}


def exercise_readme(stem: str) -> Path | None:
    path = EXERCISES / stem / "README.md"
    return path if path.exists() else None


# --- the generated pages --------------------------------------------------------------------------

def _run_time(record: dict, this_build: dict, name: str) -> str:
    modes = record.get(name, {})
    parts = [f"{modes[m]['seconds']:.0f} s in {m} mode" for m in timing_table.MODES if m in modes]
    if parts:
        dates = sorted({modes[m]["measured"] for m in timing_table.MODES if m in modes})
        return f"Run time: {', '.join(parts)} (measured {', '.join(dates)}; see [status](status.md))"
    if name in this_build:
        return f"Run time: {this_build[name]['seconds']:.0f} s in this build ({this_build[name]['mode']} mode)"
    return "Run time: not measured yet"


def index_page(chapters: list[Path], record: dict, this_build: dict, executed: set[str]) -> str:
    """The front page: what the book is, then every chapter with what it teaches and its run time."""
    out = [
        "# AutoML from Scratch", "",
        "A textbook you can run: automated machine learning built from scratch, one readable algorithm",
        "at a time. Each chapter explains an idea, shows the real code of the book's small library",
        "`minilib` (folded listings: click to open), runs experiments you can repeat on a laptop CPU,",
        "and ends with graded exercises. Download any chapter as a notebook with the download button",
        "at the top of its page; the pages show the outputs of this build.", "",
        "## Chapters", "",
    ]
    for path in chapters:
        info = chapter_info(path)
        out += [f"### [{info['title']}](chapters/{path.name})", ""]
        if info["goals"]:
            out += ["You will learn to:", ""] + [f"- {goal}" for goal in info["goals"]] + [""]
        elif info["summary"]:
            out += [info["summary"], ""]
        line = _run_time(record, this_build, path.stem)
        if exercise_readme(path.stem):
            line += f" · [Exercises](exercises/{path.stem}/README.md)"
        if path.stem not in executed:
            line += " · *not executed in this build: the page has no outputs*"
        out += [line, ""]
    out += ["## The rest of the book", "",
            "- [Exercises](exercises/README.md): how the graded exercises work, for students and teachers.",
            "- [Status](status.md): every chapter's run time in full and quick mode, and when it was measured.",
            "- [Contributing](contributing.md): the rules every chapter follows.", ""]
    out += _toctree("Chapters", [f"chapters/{p.stem}" for p in chapters])
    folders = sorted(f.name for f in EXERCISES.glob("[0-9][0-9]_*") if (f / "README.md").exists())
    exercises = ["exercises/README"] + [f"exercises/{name}/README" for name in folders]   # with or without a chapter
    out += _toctree("Exercises", exercises)
    out += _toctree("About the book", ["status", "contributing"])
    return "\n".join(out)


def _toctree(caption: str, entries: list[str]) -> list[str]:
    return ["```{toctree}", ":hidden:", f":caption: {caption}", "", *entries, "```", ""]


def status_page(chapters: list[Path], record: dict, this_build: dict) -> str:
    """The status page: the README's table (same function) and this build's own run times."""
    names = [p.stem for p in chapters]
    out = ["# Status: run times", "",
           "How long each chapter takes to execute, top to bottom, in a fresh kernel: in **full** mode",
           "(the sizes a reader should see) and in **quick** mode (`MINILIB_QUICK=1`, the tests and CI).",
           "These are the numbers of the last `make timings` (`tools/timing_table.py` writes the same table",
           "into README.md).", "", timing_table.table(record, names), ""]
    if this_build:
        out += ["## This build", "",
                "The pages of this site were rendered from notebooks executed in this build:", "",
                "| chapter | mode | run time | executed |", "| --- | --- | ---: | --- |"]
        for name in names:
            entry = this_build.get(name)
            out.append(f"| `{name}` | {entry['mode']} | {entry['seconds']:.0f} s | {entry['measured']} |" if entry
                       else f"| `{name}` | — | — | not timed (failed, or executed elsewhere) |")
        out.append("")
    return "\n".join(out)


def load_this_build(timings_dir: Path, executed_dir: Path) -> dict:
    """This build's run times (``timings-{full,quick}.json`` next to the executed notebooks), newest mode wins."""
    found: dict = {}
    for mode in timing_table.MODES:
        path = timings_dir / f"timings-{mode}.json"
        if not path.exists():
            continue
        for name, entry in timing_table.load_build(timings_dir, mode).items():
            nb = executed_dir / f"{name}.ipynb"
            if nb.exists() and path.stat().st_mtime >= nb.stat().st_mtime - 5:   # the timings of these outputs
                found[name] = {**entry, "mode": mode}
    return found


# --- assembling, building, checking ---------------------------------------------------------------

def assemble(src: Path, executed_dir: Path, require_all: bool) -> tuple[list[Path], set[str]]:
    """Lay out the Sphinx source tree in ``src``; return the chapters and the names of those executed."""
    from run_chapters import find_chapters

    if src.exists():
        shutil.rmtree(src)
    (src / "chapters").mkdir(parents=True)
    chapters = find_chapters([])
    executed = set()
    for path in chapters:
        done = executed_dir / path.name
        if done.exists():
            executed.add(path.stem)
        shutil.copy2(done if done.exists() else path, src / "chapters" / path.name)
    missing = [p.stem for p in chapters if p.stem not in executed]
    if missing and require_all:
        raise SystemExit(f"no executed notebook in {executed_dir} for: {', '.join(missing)} "
                         "(run tools/run_chapters.py or tests/test_chapters.py first)")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", "conftest.py", "__init__.py")
    (src / "exercises").mkdir()
    shutil.copy2(EXERCISES / "README.md", src / "exercises" / "README.md")
    for folder in sorted(EXERCISES.glob("[0-9][0-9]_*")):
        if folder.is_dir():
            shutil.copytree(folder, src / "exercises" / folder.name, ignore=ignore)
    shutil.copy2(ROOT / "CONTRIBUTING.md", src / "contributing.md")
    return chapters, executed


# a script, style sheet, font, image or frame taken from the network (links a reader clicks are fine)
_REMOTE = [
    re.compile(r"<(?:script|img|iframe|source|video|audio|embed)\b[^>]*\bsrc\s*=\s*[\"']?((?:https?:)?//[^\"'\s>]+)",
               re.I),
    re.compile(r"<link\b(?=[^>]*\brel\s*=\s*[\"']?(?:stylesheet|preload|modulepreload|icon|prefetch|"
               r"dns-prefetch|preconnect))[^>]*\bhref\s*=\s*[\"']?((?:https?:)?//[^\"'\s>]+)", re.I),
    re.compile(r"@import\s+(?:url\()?[\"']?((?:https?:)?//[^\"')\s]+)", re.I),
    re.compile(r"url\(\s*[\"']?((?:https?:)?//[^\"')\s]+)", re.I),
]


def remote_loads(html_dir: Path) -> list[tuple[str, str]]:
    """``(file, url)`` for every script, style sheet, font or image a page or a style sheet of the site
    would fetch over the network."""
    found = []
    for path in sorted(html_dir.rglob("*")):
        if path.suffix not in (".html", ".css") or not path.is_file():
            continue
        text = path.read_text(errors="replace")
        patterns = _REMOTE if path.suffix == ".html" else _REMOTE[2:]
        urls = dict.fromkeys(url for pattern in patterns for url in pattern.findall(text))
        found += [(str(path.relative_to(html_dir)), url) for url in urls]
    return found


def sphinx_build(src: Path, out: Path, quiet: bool = True) -> int:
    # -E: a fresh environment every time (a few seconds); a cached one kept links from an earlier
    # build that lacked a chapter and failed -W with "target not found" once the chapter existed
    cmd = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-E", "-b", "html", "-c", str(DOCS),
           "-d", str(out.parent / "site-doctrees"), str(src), str(out)]
    if quiet:
        cmd.append("-q")
    return subprocess.call(cmd)


def size_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--executed", default=str(ROOT / "_build" / "executed"),
                        help="folder of executed notebooks (default _build/executed)")
    parser.add_argument("--out", default=str(ROOT / "_build" / "html"), help="the site (default _build/html)")
    parser.add_argument("--timings", default=None,
                        help="folder with this build's timings-*.json (default: the parent of --executed)")
    parser.add_argument("--require-all", action="store_true",
                        help="fail if a chapter has no executed notebook (make test)")
    parser.add_argument("--verbose", action="store_true", help="show Sphinx's progress")
    args = parser.parse_args(argv)

    executed_dir, out = Path(args.executed).resolve(), Path(args.out).resolve()
    timings_dir = Path(args.timings).resolve() if args.timings else executed_dir.parent
    src = out.parent / "site-src"
    start = time.perf_counter()
    chapters, executed = assemble(src, executed_dir, args.require_all)
    record, this_build = timing_table.load_record(), load_this_build(timings_dir, executed_dir)
    (src / "index.md").write_text(index_page(chapters, record, this_build, executed))
    (src / "status.md").write_text(status_page(chapters, record, this_build))
    if out.exists():
        shutil.rmtree(out)
    rc = sphinx_build(src, out, quiet=not args.verbose)
    seconds = time.perf_counter() - start
    if rc != 0:
        print(f"sphinx-build failed (exit {rc}): every warning counts as an error (-W)", file=sys.stderr)
        return 1
    remote = remote_loads(out)
    for page, url in remote:
        print(f"{page}: loads {url} from the network", file=sys.stderr)
    if remote:
        print(f"{len(remote)} network loads: the site must work offline", file=sys.stderr)
        return 1
    print(f"site: {len(chapters)} chapters ({len(executed)} executed) in {out} — built in {seconds:.0f} s, "
          f"{size_mb(out):.1f} MB, no network loads")
    (out.parent / "site-build.json").write_text(json.dumps({"seconds": round(seconds, 1),
                                                             "megabytes": round(size_mb(out), 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
