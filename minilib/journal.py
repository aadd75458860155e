"""The journal: a search that can be stopped and resumed.

``minimize(..., journal="search.jsonl")`` appends each finished trial to a JSON-lines file as
soon as it finishes (the first line is a header naming the searcher, the direction and the
seed). Running the same call again reads the finished trials back and *replays* them to the
searcher instead of evaluating them: a seeded searcher then asks for the same configurations in
the same order, so the search continues where it stopped. A last line cut off by a crash is
dropped and that trial is evaluated again.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from minilib.space import Config

JOURNAL_VERSION = 1


def to_jsonable(value: Any) -> Any:
    """``json.dumps``'s ``default``: numpy arrays become lists and numpy scalars Python numbers
    (objective extras such as validation predictions are often arrays)."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def json_config(config: Config) -> Config:
    """``config`` as it reads back from JSON (tuples become lists); a clear error if it cannot."""
    try:
        return json.loads(json.dumps(config))
    except TypeError as exc:
        raise TypeError(f"journal needs JSON-serialisable configs; {config!r} is not ({exc})") from None


def read_journal(path: Path) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """Read a journal: (header or None, trial records). A last line cut off by a crash is ignored."""
    if not path.exists():
        return None, []
    lines = path.read_text().splitlines()
    records = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            if i == len(lines) - 1:
                break  # a partly written last line: the trial is evaluated again
            raise ValueError(f"journal {path} is corrupted at line {i + 1}") from None
    if not records:
        return None, []
    header, trials = records[0], records[1:]
    if header.get("journal") != "minilib":
        raise ValueError(f"{path} is not a minilib journal (first line: {lines[0][:80]!r})")
    return header, trials


class Journal:
    """An open journal file: the header, the records read back, and ``append`` for new trials."""

    def __init__(self, path: str | os.PathLike, header: dict[str, Any]):
        self.path = Path(path)
        old_header, self.records = read_journal(self.path)
        if old_header is not None:
            for key in ("searcher", "direction"):
                if old_header.get(key) != header.get(key):
                    raise ValueError(
                        f"journal {self.path} was written by a search with {key}={old_header.get(key)!r}, "
                        f"this one has {key}={header.get(key)!r}; use another journal file")
            self.header = old_header
        else:
            self.header = header
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(json.dumps(header) + "\n")
        self._rewrite()  # drops a torn last line, so that appends start on a fresh line

    def set_seed(self, seed: int) -> None:
        self.header["seed"] = seed
        self._rewrite()

    def _rewrite(self) -> None:
        self.path.write_text("".join(json.dumps(r, default=to_jsonable) + "\n" for r in [self.header, *self.records]))

    def append(self, trial: Any) -> None:
        """Append one finished ``Trial`` and flush it to disk before the search goes on."""
        record = trial.to_dict()
        record["config"] = json_config(trial.config)
        line = json.dumps(record, default=to_jsonable) + "\n"   # fails before anything is written
        with open(self.path, "a") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())

    def seed_for(self, seed: int | None, by_name: bool) -> int | None:
        """The seed a journaled search runs with: a resumed search must replay the recorded one."""
        recorded = self.header["seed"]
        if seed is None and by_name:
            if recorded is None:  # a new journal: draw a seed and record it, so that a resume can replay it
                recorded = int(np.random.default_rng().integers(2**31))
                self.set_seed(recorded)
            return recorded
        if recorded != seed:
            raise ValueError(f"journal {self.path} was written with seed={recorded!r}, this search has "
                             f"seed={seed!r}; pass the same seed (or none) or use another journal file")
        return seed
