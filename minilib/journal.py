"""The journal: a search that can be stopped and resumed.

``minimize(..., journal="search.jsonl")`` appends each finished trial to a JSON-lines file as
soon as it finishes (the first line is a header naming the searcher, the direction and the
seed). Running the same call again reads the finished trials back and *replays* them to the
searcher instead of evaluating them: a seeded searcher then asks for the same configurations in
the same order, so the search continues where it stopped. A last line cut off by a crash is
dropped and that trial is evaluated again.

That number-order replay assumes one trial at a time. On several workers results come back out
of order (trial 7 can finish before trial 5), and what a searcher proposes next depends on which
results it had been told *when* it was asked. ``EventJournal`` therefore records events, each ask
and each tell, in the order they happened (``minilib.hpo.parallel.drive``, used by ``run_parallel``
and ``minilib.distributed.run_distributed``). Replaying the events to a searcher with the same
seed rebuilds its state exactly; the trials it had asked but was never told are then run again.
"""

from __future__ import annotations

import json
import os
import time
import warnings
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


def append_line(path: Path, record: dict[str, Any]) -> None:
    """Append ``record`` as one JSON line and flush it to disk before the search goes on."""
    line = json.dumps(record, default=to_jsonable) + "\n"   # fails before anything is written
    with open(path, "a") as f:
        f.write(line)
        f.flush()
        os.fsync(f.fileno())


class Journal:
    """An open journal file: the header, the records read back, and ``append`` for new trials."""

    def __init__(self, path: str | os.PathLike, header: dict[str, Any]):
        self.path = Path(path)
        old_header, self.records = read_journal(self.path)
        if old_header is not None and old_header.get("format") == "events":
            raise ValueError(f"journal {self.path} is an event journal (written by run_parallel or run_distributed); "
                             "minimize needs its own journal file")
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
        append_line(self.path, record)

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


class EventJournal:
    """A journal of events: each ask and each tell, in the order they happened.

    The first line is a header (``"format": "events"``, the searcher's class name and seed, and
    ``t0``, the wall-clock time the run started: trial times stay on one clock across resumes).
    Then one line per event::

        {"event": "ask",  "number": 5, "config": {...}, "budget": 9, "meta": {...}}
        {"event": "tell", "number": 5, "value": 0.31, "error": null, "duration": 4.2, ...}

    ``replay(searcher)`` gives a fresh searcher the recorded events in their order and returns
    the trials asked but never told, to be run again. A last line cut off by a crash is dropped.
    """

    def __init__(self, path: str | os.PathLike, searcher: Any):
        self.path = Path(path)
        name, seed = type(searcher).__name__, searcher.seed
        header, self.events = read_journal(self.path)
        if header is None:
            if seed is None:
                warnings.warn(f"the searcher has no seed: the journal {self.path} can only resume the run if its "
                              "proposals do not depend on random draws", stacklevel=3)
            header = {"journal": "minilib", "version": JOURNAL_VERSION, "format": "events", "searcher": name,
                      "seed": seed, "t0": time.time()}
        elif header.get("format") != "events":
            raise ValueError(f"journal {self.path} holds finished trials (written by minimize), not events; "
                             "use another journal file")
        elif (header.get("searcher"), header.get("seed")) != (name, seed):
            raise ValueError(f"journal {self.path} was written by {header.get('searcher')}(seed="
                             f"{header.get('seed')!r}), this run has {name}(seed={seed!r}); resume with the same "
                             "searcher and seed, or use another journal file")
        self.header = header
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # rewritten whole: drops a torn last line, so that appends start on a fresh line
        self.path.write_text("".join(json.dumps(r, default=to_jsonable) + "\n" for r in [header, *self.events]))

    @property
    def t0(self) -> float:
        return self.header["t0"]

    def ask(self, trial: Any) -> None:
        """Record that ``trial`` was asked (before it is submitted)."""
        append_line(self.path, {"event": "ask", "number": trial.number, "config": json_config(trial.config),
                                "budget": trial.budget, "meta": trial.meta})

    def tell(self, trial: Any) -> None:
        """Record ``trial``'s result (after the searcher was told)."""
        append_line(self.path, {"event": "tell", "number": trial.number, "value": trial.value,
                                "error": trial.error, "duration": trial.duration, "user_attrs": trial.user_attrs,
                                "meta": trial.meta})

    def replay(self, searcher: Any) -> list[Any]:
        """Give ``searcher`` the recorded events in order; return the trials asked but never told.

        Each recorded ask asks the searcher again and checks that it proposes the same trial (a
        searcher with the same seed does); each recorded tell tells it the recorded result."""
        if searcher.trials:
            raise ValueError("replay needs a fresh searcher (this one has asked trials already)")
        for event in self.events:
            if event["event"] == "ask":
                trial = searcher.ask()
                if (trial is None or trial.number != event["number"] or json_config(trial.config) != event["config"]
                        or trial.budget != event["budget"]):
                    got = None if trial is None else (trial.number, trial.config, trial.budget)
                    raise ValueError(
                        f"the journal {self.path} does not match this search: its trial {event['number']} is "
                        f"{event['config']} at budget {event['budget']}, this searcher proposes {got}. Resume with "
                        "the same space, searcher and seed, or use another journal file.")
            else:
                trial = searcher.trials[event["number"]]
                trial.duration, trial.user_attrs = event["duration"], event["user_attrs"]
                trial.meta.update(event["meta"])
                searcher.tell(trial, event["value"], event["error"])
        return [t for t in searcher.trials if t.status == "pending"]
