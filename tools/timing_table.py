"""Write the chapter run-time table into README.md from the timings of `make timings`.

    python tools/timing_table.py [--build _build]

Reads ``_build/timings-full.json`` and ``_build/timings-quick.json`` (written by
``tools/run_chapters.py``) and replaces the lines between the two markers in README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BEGIN, END = "<!-- timings:begin -->", "<!-- timings:end -->"


def table(full: dict[str, float], quick: dict[str, float]) -> str:
    names = sorted(set(full) | set(quick))
    lines = ["| chapter | full mode | quick mode |", "| --- | ---: | ---: |"]
    for name in names:
        f = f"{full[name]:.0f} s" if name in full else "—"
        q = f"{quick[name]:.0f} s" if name in quick else "—"
        lines.append(f"| `{name}` | {f} | {q} |")
    cpu = f"{os.cpu_count()} CPU cores, {platform.machine()}, Python {platform.python_version()}, no GPU"
    lines.append("")
    lines.append(f"Measured with `make timings` on {cpu}.")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--build", default=str(ROOT / "_build"))
    args = parser.parse_args()
    build = Path(args.build)
    load = lambda name: json.loads((build / name).read_text()) if (build / name).exists() else {}  # noqa: E731
    readme = ROOT / "README.md"
    text = readme.read_text()
    start, stop = text.index(BEGIN) + len(BEGIN), text.index(END)
    readme.write_text(text[:start] + "\n" + table(load("timings-full.json"), load("timings-quick.json")) + "\n"
                      + text[stop:])
    print("README.md timing table updated")


if __name__ == "__main__":
    main()
