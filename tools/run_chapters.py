"""Execute the chapter notebooks and render them as HTML (what ``make book`` runs).

    python tools/run_chapters.py [--quick] [--out _build] [--timeout 900] [NN ...]

For each chapter it prints the name and the seconds it took; a failing chapter names
the cell that failed and the error. Executed notebooks go to ``OUT/executed/``, one
HTML page per chapter and an ``index.html`` to ``OUT/html/``, and the run times to
``OUT/timings-{full,quick}.json`` (``tools/timing_table.py`` puts them in the README).
The notebooks in ``chapters/`` are never modified: they stay free of outputs.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = ROOT / "chapters"


def find_chapters(selected: list[str]) -> list[Path]:
    notebooks = sorted(CHAPTERS.glob("[0-9][0-9]_*.ipynb"))
    if selected:
        notebooks = [nb for nb in notebooks if any(nb.name.startswith(s) for s in selected)]
    return notebooks


def execute(path: Path, timeout: int, quick: bool):
    """Execute one notebook in a fresh kernel; return ``(notebook, seconds, error or None)``."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError

    nb = nbformat.read(path, as_version=4)
    os.environ["MINILIB_QUICK"] = "1" if quick else "0"
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    # prefer this environment's kernel (installed by the Makefile) over a user-wide "python3" kernel
    os.environ["JUPYTER_PATH"] = os.pathsep.join(
        p for p in (str(Path(sys.prefix) / "share" / "jupyter"), os.environ.get("JUPYTER_PATH")) if p)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(CHAPTERS)}},
                            extra_arguments=["--IPKernelApp.log_level=ERROR"])  # no transport chatter
    start = time.perf_counter()
    error = None
    try:
        client.execute()
    except (CellExecutionError, CellTimeoutError) as exc:
        error = _describe_failure(nb, exc)
    return nb, time.perf_counter() - start, error


def _describe_failure(nb, exc: Exception) -> str:
    """Name the failing cell: its index among code cells, its first line, and the error."""
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    for i, cell in enumerate(code_cells):
        if any(o.get("output_type") == "error" for o in cell.get("outputs", [])):
            first = cell.source.strip().splitlines()[0] if cell.source.strip() else ""
            return f"code cell {i + 1} ({first!r}) failed:\n{str(exc)[-2000:]}"
    return f"execution failed (timeout or kernel death): {str(exc)[-2000:]}"


def render_html(nb, out: Path) -> None:
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(nb)
    out.write_text(body)


def write_index(html_dir: Path, rows: list[tuple[str, float, str | None]], quick: bool) -> None:
    items = "\n".join(
        f'<li><a href="{html.escape(name)}.html">{html.escape(name)}</a> — {seconds:.0f} s'
        f'{" — <b>FAILED</b>" if error else ""}</li>' for name, seconds, error in rows)
    mode = "quick" if quick else "full"
    (html_dir / "index.html").write_text(
        f"<!doctype html><html><head><meta charset='utf-8'><title>AutoML from Scratch</title></head>"
        f"<body><h1>AutoML from Scratch</h1><p>Chapters executed in {mode} mode.</p><ul>{items}</ul></body></html>")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("chapters", nargs="*", help="chapter number prefixes, e.g. 00 01 (default: all)")
    parser.add_argument("--quick", action="store_true", help="quick mode (MINILIB_QUICK=1)")
    parser.add_argument("--out", default=str(ROOT / "_build"), help="output folder (default _build)")
    parser.add_argument("--timeout", type=int, default=900, help="seconds allowed per cell")
    args = parser.parse_args(argv)

    out = Path(args.out)
    (out / "executed").mkdir(parents=True, exist_ok=True)
    (out / "html").mkdir(parents=True, exist_ok=True)
    notebooks = find_chapters(args.chapters)
    if not notebooks:
        print("no chapter notebooks found", file=sys.stderr)
        return 1
    rows = []
    for path in notebooks:
        print(f"{path.stem:<40}", end=" ", flush=True)
        nb, seconds, error = execute(path, args.timeout, args.quick)
        print(f"{seconds:6.1f} s  {'FAILED' if error else 'ok'}", flush=True)
        if error:
            print(f"  {path.name}: {error}", file=sys.stderr)
        import nbformat

        nbformat.write(nb, out / "executed" / path.name)
        render_html(nb, out / "html" / f"{path.stem}.html")
        rows.append((path.stem, seconds, error))
    write_index(out / "html", rows, args.quick)
    timings_file = out / f"timings-{'quick' if args.quick else 'full'}.json"
    old = json.loads(timings_file.read_text()) if timings_file.exists() else {}
    old.update({name: round(seconds, 1) for name, seconds, error in rows if not error})
    timings_file.write_text(json.dumps(old, indent=1, sort_keys=True))
    failed = [name for name, _, error in rows if error]
    print(f"\n{len(rows) - len(failed)} chapters ok, {len(failed)} failed; HTML in {out / 'html'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
