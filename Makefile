# Two commands for a newcomer: `make demo` (set up + run the main job on a built-in default) and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q

.PHONY: setup demo test bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml Makefile
	python3 -m venv $(VENV)
	# torch first and exactly pinned: a dependency asking for plain `torch` would otherwise pull a CUDA build.
	$(PIP) install torch==2.13.0
	$(PIP) install -e ".[test]"
	# MediaPipe last and without its declared dependencies (jax, GUI OpenCV); 0.10.21 is the newest release
	# whose legacy mp.solutions models ship inside the wheel.
	$(PIP) install --no-deps mediapipe==0.10.21
	touch $@

demo: setup
	$(PY) -m synthvid demo -o demo_out

# pytest exits 5 when no test was collected; that is not a failure of the code.
test: setup
	$(PY) -m pytest -q; rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests collected"; exit 0; fi; exit $$rc

bench: setup
	$(PY) bench/face_swap.py
	$(PY) bench/reenact.py

clean:
	rm -rf $(VENV) demo_out .pytest_cache
