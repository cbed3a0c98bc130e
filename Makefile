# Every target sets itself up: `make demo` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# torch is pinned here (and in .ci/run) rather than in pyproject.toml, which allows the range
# that the XLA environment (torch 2.9.0) needs too.
TORCH  := torch==2.14.1 torchvision==0.29.1
# The XLA test environment: torch-xla 2.9.0 needs exactly torch 2.9.0.
VENV_XLA ?= .venv-xla
TORCH_XLA := torch==2.9.0 torchvision==0.24.0 torch-xla==2.9.0
ARGS   ?=

.DEFAULT_GOAL := help
.PHONY: help install demo train predict stylize app evaluate test test-fast test-xla browser lint format tensorboard bench-data bench-eval clean

help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(TORCH) -e '.[dev]'
	touch $@

install: $(VENV)/.installed ## Create .venv and install the package with its dev tools

demo: install ## Train a small CycleGAN on built-in demo data (CPU), stylize demo photos
	$(BIN)/python train.py experiment=demo hydra.run.dir=demo_out/train
	$(BIN)/python predict.py ckpt=demo_out/train/checkpoints/last.ckpt \
		input_dir=data/demo/photo_tfrec output_dir=demo_out/monet preview=8 overwrite=true
	@echo
	@echo "Demo done. Look at:"
	@echo "  demo_out/monet/                 the demo photos in Monet style"
	@echo "  demo_out/monet-preview.png      inputs beside outputs"
	@echo "  demo_out/train/checkpoints/     last.ckpt (resume with ckpt_path=...)"
	@echo "  make tensorboard LOGDIR=demo_out   losses and image grids"
	@echo "  make app                        try the model in the browser (http://127.0.0.1:7860)"

train: install ## Train: make train ARGS="accelerator=cpu loss=lsgan data.root=..."
	$(BIN)/python train.py $(ARGS)

predict: install ## Stylize: make predict ARGS="ckpt=... input_dir=... output_dir=..."
	$(BIN)/python predict.py $(ARGS)

stylize: install ## Gatys style transfer: make stylize ARGS="input_dir=... style=monet_jpg/ output_dir=..."
	$(BIN)/python stylize.py $(ARGS)

CKPT ?= demo_out/train/checkpoints/last.ckpt
app: install ## Try a model in the browser: make app [CKPT=...] [ARGS="runs_dir=outputs port=8000"]
	@if [ -n "$(CKPT)" ] && [ ! -f "$(CKPT)" ]; then \
		echo "no checkpoint at $(CKPT): run 'make demo' first, or make app CKPT=path/to/last.ckpt"; \
		exit 2; fi
	$(BIN)/python app.py $(if $(CKPT),ckpt=$(CKPT)) $(ARGS)

evaluate: install ## Score images: make evaluate ARGS="generated=images.zip real=data/gan-getting-started/monet_jpg"
	$(BIN)/python evaluate.py $(ARGS)

test: install browser ## Run the whole test suite (the command CI runs)
	$(BIN)/python -m pytest

test-fast: install ## Run the tests not marked slow
	$(BIN)/python -m pytest -m "not slow"

# tests/test_app_browser.py drives the system Chromium (Playwright cannot download its own
# browser without internet). Installed with apt-get where we are root (CI); elsewhere, or if the
# install fails, that test skips and says how to install it.
browser: ## Install Chromium for the browser test (apt-get, as root), if it is missing
	@if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then \
		true; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
			|| echo "warning: could not install chromium; the browser test will skip"; \
	else \
		echo "note: no Chromium; the browser test will skip (sudo apt-get install chromium)"; \
	fi

$(VENV_XLA)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV_XLA)
	$(VENV_XLA)/bin/python -m pip install -q --upgrade pip
	$(VENV_XLA)/bin/python -m pip install -q $(TORCH_XLA) -e '.[dev]'
	touch $@

test-xla: $(VENV_XLA)/.installed ## Run the XLA tests on the CPU (own venv with torch-xla)
	PJRT_DEVICE=CPU $(VENV_XLA)/bin/python -m pytest -m xla -s tests/test_xla.py

lint: install ## ruff (lint + format check) and mypy on cyclegan/
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy cyclegan

format: install ## Apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

LOGDIR ?= outputs
tensorboard: install ## TensorBoard on outputs/ (or LOGDIR=...)
	$(BIN)/tensorboard --logdir $(LOGDIR)

bench-data: install ## Data loader throughput (img/s) and memory on the Kaggle photo TFRecords
	$(BIN)/python benchmarks/data_throughput.py

bench-eval: install ## Inception feature throughput and full-evaluation wall time
	$(BIN)/python benchmarks/eval_throughput.py

clean: ## Remove demo outputs and caches (keeps .venv and data/)
	rm -rf demo_out outputs .pytest_cache .mypy_cache .ruff_cache
