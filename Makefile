# The book's two commands: `make book` and `make test` (see README.md).
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
QUICK  ?= 0

.PHONY: book site site-check test venv lint timings clean

# A virtual environment with the exact versions the book is tested with (constraints.txt).
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[dev,book]" 2>&1 \
		| { grep -v "is ignored: it is neither a file nor a directory" || true; }
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 > /dev/null
	touch $(STAMP)

venv: $(STAMP)

# Execute every chapter and render the website _build/html/ (QUICK=1 for quick mode).
book: $(STAMP)
	$(BIN)/python tools/run_chapters.py $(if $(filter 1,$(QUICK)),--quick,)
	$(BIN)/python tools/build_site.py

# Render _build/html/ again from the notebooks `make book` executed (after editing docs/, say).
site: $(STAMP)
	$(BIN)/python tools/build_site.py

# The website check of `make test`: render the notebooks that tests/test_chapters.py executed
# (quick mode; nothing runs twice) with sphinx-build -W, and fail on any network load.
site-check: $(STAMP)
	$(BIN)/python tools/build_site.py --executed _build/test/executed --out _build/test/html --require-all

# Lint, the library's tests, every chapter in quick mode, the exercise self-check, the website.
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q
	$(BIN)/python -m exercises.selfcheck
	$(MAKE) --no-print-directory site-check

lint: $(STAMP)
	$(BIN)/ruff check .

# Measure every chapter in full and quick mode and update the README's table.
timings: $(STAMP)
	$(BIN)/python tools/run_chapters.py --quick
	$(BIN)/python tools/run_chapters.py
	$(BIN)/python tools/timing_table.py

clean:
	rm -rf _build .pytest_cache .ruff_cache

# The Gradescope autograder zip of one chapter's exercises: make gradescope EX=04 [OUT=dist]
.PHONY: gradescope
gradescope: $(STAMP)
	$(BIN)/python -m exercises.gradescope $(EX) --out $(or $(OUT),dist)
