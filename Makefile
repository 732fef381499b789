# Two commands set everything up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
ARGS   ?=
LINTED := $(wildcard src tests benchmarks examples)

.PHONY: install run test test-all lint format bench docs clean

# The venv is made without pip (ensurepip's copy of the bundled pip took 7.6 s), and the
# Python's own pip (22.3 or newer: --python) installs a current pip into it; where that pip is
# missing or too old, ensurepip does it as before.
$(BIN)/python:
	$(PYTHON) -m venv --without-pip $(VENV)

# The build requirements of pyproject.toml go into the venv once, and the package is built
# there (--no-build-isolation): pip's isolated build environment costs 10-15 s per install.
# pip byte-compiles nothing (--no-compile): its compile of all 7400 modules it installs took
# 28 s of a 42 s pip install on the 2-core machine. PRECOMPILE then imports what the library,
# its command line and the tests load (torch, torch._dynamo with sympy for DDP, matplotlib,
# pytest, ...: about 1950 modules), in two processes at once, with .pyc writing switched on, so
# that no process compiles them again, PYTHONDONTWRITEBYTECODE or not (an uncompiled torch +
# matplotlib import: 8.5 s against 3.6 s). Measured on fresh clones: make install 68.8 -> 41.8 s,
# and the test suite after it no slower (86.8 and 83.6 s against 92.7 and 85.5 s). A module
# that fails to import there only stays uncompiled.
PRECOMPILE := $(BIN)/python -c "import importlib, sys; sys.dont_write_bytecode = False; \
	[importlib.import_module(m) for m in sys.argv[1:]]"
# MS1's C stack is compiled there too (about 9 s, after the shorter of the two imports: 10.4 s
# for torch._dynamo, 7.9 s for the rest; otherwise on first use), into ~/.cache/hamnets/kernels;
# without a C compiler the torch path runs.
CSTACK := $(BIN)/python -c "import sys, hamnets.hdnn._cstack as c; sys.exit(c.main())" || true
# The HNN loss kernel (hamnets/hnn/_mlp_loss.c, about 5 s) and Adam's update
# (hamnets/training/_adam.c, about 2 s) after the other import, in one process, so that neither
# branch grows much past the other.
HNNLOSS := $(BIN)/python -c "import sys, hamnets.hnn._fused_loss as a, \
	hamnets.training._adam_kernel as b; sys.exit(a.main() | b.main())" || true
$(STAMP): $(BIN)/python pyproject.toml constraints.txt
	$(PYTHON) -m pip --python $(BIN)/python install --quiet --upgrade pip "setuptools>=68" \
		wheel 2>/dev/null || ($(BIN)/python -m ensurepip --upgrade --default-pip >/dev/null \
		&& $(BIN)/python -m pip install --quiet --upgrade pip "setuptools>=68" wheel)
	$(BIN)/python -m pip install --quiet --no-compile --no-build-isolation -c constraints.txt \
		-e '.[dev]'
	($(PRECOMPILE) torch._dynamo; $(HNNLOSS)) & \
		($(PRECOMPILE) sympy matplotlib.pyplot PIL.Image pytest xdist hypothesis tqdm; \
		$(CSTACK)); wait
	touch $(STAMP)

install: $(STAMP)

# The main job: H-DNN classification of the swiss roll, into a fresh folder under runs/
# (runs/swiss_roll_H1_J1, then runs/swiss_roll_H1_J1_2, ...: running it twice loses nothing).
run: $(STAMP)
	$(BIN)/hamnets classify --dataset swiss_roll --model H1_J1 $(ARGS)

# Two pytest workers (pytest-xdist): the suite is mostly single-threaded torch, and the CI
# machine has two cores (68 s against 100 s in one process, measured there).
JOBS ?= 2

test: $(STAMP)
	$(BIN)/ruff check $(LINTED)
	$(BIN)/python -m pytest -q -n $(JOBS) $(ARGS)

test-all: $(STAMP)
	$(BIN)/ruff check $(LINTED)
	$(BIN)/python -m pytest -q -n $(JOBS) -m "" $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)

format: $(STAMP)
	$(BIN)/ruff format $(LINTED)
	$(BIN)/ruff check --fix $(LINTED)

# The flag tables of docs/cli.md, from the parser (a test checks they agree).
docs: $(STAMP)
	$(BIN)/python -m hamnets.cli._docs docs/cli.md

bench: $(STAMP)
	$(BIN)/python benchmarks/toy2d.py $(ARGS)

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .ruff_cache
