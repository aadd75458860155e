"""minilib.book: listings of the library's real source, folded in Jupyter, plain in a terminal."""

import subprocess
import sys

from minilib.book import FOLD_AFTER_LINES, SourceListing, _file_of, _name_of, show_source, source_of
from minilib.hpo.random import RandomSearch
from minilib.hpo.tpe import TPE


def test_listing_of_a_method_is_dedented_named_and_short_ones_start_open():
    # catches a method listed with its class indentation, and a summary without the file
    listing = SourceListing(source_of(TPE.ask), _name_of(TPE.ask), _file_of(TPE.ask))
    assert listing.code.startswith("def ask(self)")
    assert listing.name == "TPE.ask" and listing.filename == "minilib/hpo/tpe.py"
    assert listing.n_lines == len(source_of(TPE.ask).strip("\n").splitlines())
    assert listing.folded is (listing.n_lines > FOLD_AFTER_LINES)


def test_html_is_a_details_element_with_a_monospace_shaded_block():
    code = "\n".join(f"x{i} = {i}" for i in range(FOLD_AFTER_LINES + 5))
    folded = SourceListing(code, "long_function")._repr_html_()
    assert folded.startswith('<details class="minilib-source">') and folded.endswith("</details>")
    assert "<summary>" in folded and "long_function" in folded
    assert "monospace" in folded and "background:#f6f8fa" in folded and "white-space:pre-wrap" in folded
    assert "x34" in folded
    opened = SourceListing("y = 1", "short", folded=None)._repr_html_()
    assert opened.startswith('<details class="minilib-source" open>')
    assert SourceListing("y = 1", "short", folded=True)._repr_html_().startswith('<details class="minilib-source">')


def test_html_escapes_the_code():
    # catches code pasted into HTML unescaped (a "<" in a comparison would swallow the listing)
    html = SourceListing("if a < b and c > d:\n    pass\n", "f")._repr_html_()
    assert "&lt;" in html and "&gt;" in html and "a < b" not in html


def test_markdown_and_plain_fallbacks_hold_the_whole_source():
    listing = SourceListing(source_of(RandomSearch), _name_of(RandomSearch), _file_of(RandomSearch))
    assert "```python\nclass RandomSearch" in listing._repr_markdown_()
    assert repr(listing).splitlines()[1].startswith("class RandomSearch")


def test_show_source_prints_plain_text_outside_jupyter():
    code = ("from minilib.book import show_source\nfrom minilib.hpo.random import RandomSearch\n"
            "show_source(RandomSearch)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("class RandomSearch") and "<details" not in out.stdout


def test_show_source_displays_the_listing_in_ipython(monkeypatch):
    import IPython.display

    shown = []
    monkeypatch.setattr("IPython.get_ipython", lambda: object())
    monkeypatch.setattr(IPython.display, "display", lambda obj: shown.append(obj))
    show_source(RandomSearch, folded=True)
    assert len(shown) == 1 and isinstance(shown[0], SourceListing) and shown[0].folded
