# TraceTrack Station: one entry point for setting up, running, testing and measuring.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip

.PHONY: run test lint bench bench-full install install-test install-central centre connect-demo clean package

$(VENV)/.stamp-install: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e .
	touch $@

$(VENV)/.stamp-central: $(VENV)/.stamp-install
	$(PIP) install -q -e '.[central]'
	touch $@

$(VENV)/.stamp-test: $(VENV)/.stamp-install
	$(PIP) install -q -e '.[central,test,dev]'
	touch $@

install: $(VENV)/.stamp-install
install-test: $(VENV)/.stamp-test
install-central: $(VENV)/.stamp-central

CENTRAL ?= http://127.0.0.1:8800

## Try the centre: its sync service on an embedded PostgreSQL, with demo users and station DEMO-1
centre: install-central
	$(VENV)/bin/tracetrack-central serve --demo Demo $(ARGS)

## Connect the demo station of `make run` to that centre (token in TRACETRACK_CENTRAL_TOKEN)
connect-demo: install
	@base=$$($(PY) -c "from station.paths import demo_paths; print(demo_paths().data_dir)"); \
	[ -f "$$base/station.sqlite3" ] || $(VENV)/bin/tracetrack-station init --basedir "$$base" \
	    --station-id DEMO-1 --area Demo --demo; \
	$(VENV)/bin/tracetrack-station sync --basedir "$$base" --central $(CENTRAL) --once

## Start the station window (a demo station is created on first run)
run: install
	$(VENV)/bin/tracetrack-station $(ARGS)

## Install what the tests need and run them all, on two workers (TEST_WORKERS=0: in one process)
TEST_WORKERS ?= 2
test: install-test
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -n $(TEST_WORKERS) --dist worksteal $(PYTEST_ARGS)

lint: install-test
	$(VENV)/bin/ruff check station sync central ui bench tests
	$(VENV)/bin/mypy station sync central ui
	$(VENV)/bin/lint-imports

bench: install-test
	QT_QPA_PLATFORM=offscreen $(PY) -m bench.run_all

bench-full: install-test
	QT_QPA_PLATFORM=offscreen $(PY) -m bench.run_all --full

## In dist/: the frozen one-folder station, its .deb and the centre's wheel (packaging/)
package: install
	$(PIP) install -q -e '.[package]'
	rm -rf dist/tracetrack-station
	$(VENV)/bin/pyinstaller --noconfirm --log-level WARN --distpath dist \
		--workpath build/pyinstaller packaging/station.spec
	$(PY) packaging/linux/build_deb.py
	$(PY) packaging/central/build_wheel.py

clean:
	rm -rf $(VENV) build *.egg-info
