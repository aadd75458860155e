"""The chapter runner's output cleaning and the timing record (tools/run_chapters.py, tools/timing_table.py)."""

import importlib
import json
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
run_chapters = importlib.import_module("run_chapters")
timing_table = importlib.import_module("timing_table")


def _cell(*outputs):
    cell = nbformat.v4.new_code_cell("x")
    cell.outputs = list(outputs)
    return cell


def _stream(text, name="stderr"):
    return nbformat.v4.new_output("stream", name=name, text=text)


def test_carriage_returns_keep_what_a_terminal_shows():
    # catches keeping every progress state (the page showed each one) or dropping the text after \r
    assert run_chapters._apply_carriage_returns("a 10%\ra 50%\ra 100%\ndone") == "a 100%\ndone"
    assert run_chapters._apply_carriage_returns("long line\rshort") == "shortline"
    assert run_chapters._apply_carriage_returns("bar 3/3\r       \r") == ""
    assert run_chapters._apply_carriage_returns("windows\r\nline") == "windows\nline"


def test_clean_outputs_merges_streams_drops_blank_ones_and_strips_local_paths():
    import sysconfig

    site = sysconfig.get_paths()["purelib"]
    progress = [_stream(f"\rtrials: {k}/3") for k in range(4)] + [_stream("\r            \r")]
    warning = _stream(f"{site}/tqdm/auto.py:21: TqdmWarning: IProgress not found\n")
    image = nbformat.v4.new_output("display_data", data={"image/png": "AAAA"})
    log = _stream(f"wrote {ROOT}/chapters/journal.jsonl\n", name="stdout")
    nb = nbformat.v4.new_notebook()
    after_bar = [_stream("\rtrials: 3/3"), _stream("\r           \r\nsearch interrupted\n")]
    nb.cells = [_cell(*progress), _cell(warning, image, log, _stream("more\n", name="stdout")), _cell(*after_bar)]
    run_chapters.clean_outputs(nb)
    assert nb.cells[0].outputs == []                                   # the bar cleared itself: nothing left
    first, second, third = nb.cells[1].outputs
    assert first["text"] == "tqdm/auto.py:21: TqdmWarning: IProgress not found\n"     # no path of this machine
    assert second["output_type"] == "display_data"
    assert third["text"] == "wrote chapters/journal.jsonl\nmore\n"      # merged, relative
    assert [o["text"] for o in nb.cells[2].outputs] == ["search interrupted\n"]   # no blank line left by the bar


def test_kernel_environment_turns_progress_bars_and_the_ipywidgets_warning_off():
    # the runner passes these to the kernel only (not to the process that runs it, e.g. pytest)
    assert run_chapters.KERNEL_ENV["TQDM_DISABLE"] == "1"
    assert "IProgress not found" in run_chapters.KERNEL_ENV["PYTHONWARNINGS"]


def test_timing_record_merges_new_runs_and_renders_one_table(tmp_path):
    # oracle: the numbers written; catches a merge that drops the other mode's time or a chapter,
    # and old-format files (bare seconds) that crash the table
    record = {"00_a": {"full": {"seconds": 14.0, "measured": "2026-11-23", "machine": "2 CPU cores"},
                       "quick": {"seconds": 5.0, "measured": "2026-11-23", "machine": "2 CPU cores"}}}
    (tmp_path / "timings-quick.json").write_text(json.dumps(
        {"00_a": {"seconds": 4.4, "measured": "2026-11-30", "machine": "2 CPU cores"}, "01_b": 7.9}))
    merged = timing_table.merge(record, tmp_path)
    assert merged["00_a"]["full"]["seconds"] == 14.0 and merged["00_a"]["quick"]["seconds"] == 4.4
    assert merged["01_b"]["quick"]["seconds"] == 7.9 and "full" not in merged["01_b"]
    table = timing_table.table(merged)
    assert "| `00_a` | 14 s | 4 s | 2026-11-23, 2026-11-30 |" in table
    assert "| `01_b` | — | 8 s |" in table
    assert table.endswith("Measured with `make timings` on 2 CPU cores.")


def test_readme_table_is_replaced_between_the_markers_only(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{timing_table.BEGIN}\nold table\n{timing_table.END}\noutro\n")
    record = {"00_a": {"full": {"seconds": 3.0, "measured": "2026-11-30"}}}
    timing_table.write_readme(record, readme)
    text = readme.read_text()
    assert text.startswith("intro\n") and text.endswith(f"{timing_table.END}\noutro\n")
    assert "old table" not in text and "| `00_a` | 3 s | — | 2026-11-30 |" in text


def test_committed_record_names_only_existing_chapters():
    # a renamed chapter must not leave a stale row on the status page and in the README
    names = {p.stem for p in run_chapters.find_chapters([])}
    assert set(timing_table.load_record()) <= names
