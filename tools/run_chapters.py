"""Execute the chapter notebooks (the first half of ``make book``; ``tools/build_site.py`` is the second).

    python tools/run_chapters.py [--quick] [--out _build] [--timeout 900] [NN ...]

For each chapter it prints the name and the seconds it took; a failing chapter names
the cell that failed and the error. Executed notebooks go to ``OUT/executed/`` (the
website is rendered from them, without executing anything again), and the run times,
with the date and the machine, to ``OUT/timings-{full,quick}.json``
(``tools/timing_table.py`` puts them in the README and on the site's status page).
The notebooks in ``chapters/`` are never modified: they stay free of outputs.

What a reader should not see is kept off the executed pages: progress bars are switched
off in the kernel (``TQDM_DISABLE=1``; their states would pile up in the output), tqdm's
"IProgress not found" warning is ignored, consecutive outputs of one stream are merged with
carriage returns applied as a terminal would, and absolute paths of this checkout and of the
Python environment are made relative.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
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
        client.execute(env={**os.environ, **KERNEL_ENV})   # the kernel's environment only
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


# Set for the kernel: no progress bars (the page would keep every state), and no warning that
# ipywidgets is missing (it names a file of the build machine). Trial logs still print.
KERNEL_ENV = {"TQDM_DISABLE": "1", "PYTHONWARNINGS": "ignore:IProgress not found"}


def _path_prefixes() -> list[str]:
    """Absolute paths that should not reach a page, longest first: site-packages, then the checkout."""
    import sysconfig

    prefixes = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"], str(ROOT)}
    return sorted((p.rstrip("/") + "/" for p in prefixes), key=len, reverse=True)


def _apply_carriage_returns(text: str) -> str:
    """What a terminal shows: on each line, text after a carriage return overwrites what came before."""
    lines = []
    for line in text.split("\n"):
        shown = ""
        for part in line.split("\r"):
            shown = part + shown[len(part):]
        lines.append(shown.rstrip() if "\r" in line else shown)
    return "\n".join(lines)


def clean_outputs(nb) -> None:
    """Merge consecutive outputs of one stream, apply carriage returns, drop what ends up blank,
    and strip absolute paths of this machine from stream text (in place)."""
    prefixes = [re.escape(p) for p in _path_prefixes()]
    strip_paths = re.compile("|".join(prefixes)) if prefixes else None
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        merged = []
        for out in cell.get("outputs", []):
            if (out.get("output_type") == "stream" and merged and merged[-1].get("output_type") == "stream"
                    and merged[-1].get("name") == out.get("name")):
                merged[-1]["text"] += out["text"]
            else:
                merged.append(out)
        kept = []
        for out in merged:
            if out.get("output_type") == "stream":
                text = _apply_carriage_returns(out["text"])
                text = re.sub(r"\n{3,}", "\n\n", text)
                if strip_paths is not None:
                    text = strip_paths.sub("", text)
                if not text.strip():
                    continue
                text = text.lstrip("\n")             # what a cleared progress bar leaves behind
                out["text"] = text
            kept.append(out)
        cell["outputs"] = kept


def machine() -> str:
    """The machine a run time was measured on, e.g. "2 CPU cores, x86_64, Python 3.11.7, no GPU"."""
    gpu = "no GPU"
    try:
        import torch

        if torch.cuda.is_available():
            gpu = torch.cuda.get_device_name(0)
    except ImportError:
        pass
    return f"{os.cpu_count()} CPU cores, {platform.machine()}, Python {platform.python_version()}, {gpu}"


def save(nb, path: Path) -> None:
    """Write an executed notebook, cleaned for the page (see ``clean_outputs``)."""
    import nbformat

    clean_outputs(nb)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("chapters", nargs="*", help="chapter number prefixes, e.g. 00 01 (default: all)")
    parser.add_argument("--quick", action="store_true", help="quick mode (MINILIB_QUICK=1)")
    parser.add_argument("--out", default=str(ROOT / "_build"), help="output folder (default _build)")
    parser.add_argument("--timeout", type=int, default=900, help="seconds allowed per cell")
    args = parser.parse_args(argv)

    out = Path(args.out)
    (out / "executed").mkdir(parents=True, exist_ok=True)
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
        save(nb, out / "executed" / path.name)
        rows.append((path.stem, seconds, error))
    timings_file = out / f"timings-{'quick' if args.quick else 'full'}.json"
    old = json.loads(timings_file.read_text()) if timings_file.exists() else {}
    today, where = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d"), machine()
    old.update({name: {"seconds": round(seconds, 1), "measured": today, "machine": where}
                for name, seconds, error in rows if not error})
    timings_file.write_text(json.dumps(old, indent=1, sort_keys=True))
    failed = [name for name, _, error in rows if error]
    print(f"\n{len(rows) - len(failed)} chapters ok, {len(failed)} failed; executed notebooks in "
          f"{out / 'executed'} (tools/build_site.py renders them)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
