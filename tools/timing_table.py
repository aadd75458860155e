"""The chapters' measured run times: one record, two views (README's table and the site's status page).

    python tools/timing_table.py [--build _build]

Reads the run times that ``tools/run_chapters.py`` wrote (``_build/timings-full.json`` and
``_build/timings-quick.json``), merges them into the committed record ``docs/timings.json``
(each chapter's full and quick time, when and on what machine it was measured), and rewrites
the table between the two markers in README.md. ``tools/build_site.py`` renders the same record,
with the same ``table`` function, as the website's status page. ``make timings`` runs both
modes and then this script.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RECORD = ROOT / "docs" / "timings.json"
BEGIN, END = "<!-- timings:begin -->", "<!-- timings:end -->"
MODES = ("full", "quick")


def load_build(build: Path, mode: str) -> dict[str, dict]:
    """``{chapter: {"seconds", "measured", "machine"}}`` from one run of ``tools/run_chapters.py``.

    Older runs stored bare seconds; they get the file's date and no machine.
    """
    path = Path(build) / f"timings-{mode}.json"
    if not path.exists():
        return {}
    raw = json.loads(path.read_text())
    import datetime as dt

    mtime = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.timezone.utc).strftime("%Y-%m-%d")
    return {name: entry if isinstance(entry, dict) else {"seconds": float(entry), "measured": mtime}
            for name, entry in raw.items()}


def load_record(path: Path = RECORD) -> dict[str, dict[str, dict]]:
    """The committed record: ``{chapter: {"full": {...}, "quick": {...}}}`` (empty if there is none)."""
    return json.loads(Path(path).read_text()) if Path(path).exists() else {}


def merge(record: dict, build: Path) -> dict:
    """The record with every chapter's times from ``build`` replacing the older ones."""
    merged = {name: dict(modes) for name, modes in record.items()}
    for mode in MODES:
        for name, entry in load_build(build, mode).items():
            merged.setdefault(name, {})[mode] = entry
    return dict(sorted(merged.items()))


def _seconds(entry: dict | None) -> str:
    return f"{entry['seconds']:.0f} s" if entry else "—"


def table(record: dict, chapters: list[str] | None = None) -> str:
    """The Markdown table of README.md and the status page: time and date per chapter and mode.

    ``chapters`` lists the chapters to show (default: those in the record); a chapter without a
    measurement shows a dash.
    """
    names = chapters if chapters is not None else sorted(record)
    lines = ["| chapter | full mode | quick mode | measured |", "| --- | ---: | ---: | --- |"]
    machines = []
    for name in names:
        modes = record.get(name, {})
        dates = sorted({modes[m]["measured"] for m in MODES if m in modes})
        machines += [modes[m]["machine"] for m in MODES if m in modes and modes[m].get("machine")]
        lines.append(f"| `{name}` | {_seconds(modes.get('full'))} | {_seconds(modes.get('quick'))} | "
                     f"{', '.join(dates) or '—'} |")
    if machines:
        lines += ["", "Measured with `make timings` on " + "; ".join(dict.fromkeys(machines)) + "."]
    return "\n".join(lines)


def write_readme(record: dict, readme: Path = ROOT / "README.md") -> None:
    text = readme.read_text()
    start, stop = text.index(BEGIN) + len(BEGIN), text.index(END)
    readme.write_text(text[:start] + "\n" + table(record) + "\n" + text[stop:])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", default=str(ROOT / "_build"), help="where run_chapters.py wrote its timings")
    args = parser.parse_args(argv)
    record = merge(load_record(), Path(args.build))
    RECORD.write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n")
    write_readme(record)
    print(f"{RECORD.relative_to(ROOT)} and the README.md timing table updated")


if __name__ == "__main__":
    main()
