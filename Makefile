# xch: `make demo` runs the main job end to end on the built-in lab; `make test` runs the tests.
# Both set up everything on a fresh Debian machine (apt packages, virtualenv) and are idempotent.

VENV ?= .venv
PY := $(VENV)/bin/python
XCH := $(VENV)/bin/xch
APT_PACKAGES := qemu-user-static binfmt-support debootstrap openssh-server openssh-client iproute2 procps dpkg-dev \
                chromium fonts-noto-cjk patchelf rpm \
                qemu-system-arm qemu-system-x86 qemu-utils qemu-efi-aarch64 ipxe-qemu seabios mmdebstrap e2fsprogs cpio
PYTEST_ARGS ?=

# The PostgreSQL the whitelist tests use (the password is a throwaway for a loopback test server).
export XCH_TEST_PG_URL ?= postgresql+psycopg://xch:xch@127.0.0.1:5432/xch_test

.PHONY: all deps venv lab lab-vm lab-down postgres demo test unit lint bench clean

all: test

# System packages the lab needs. Installed only when one is missing (needs root, as CI is).
deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then echo "installing:$$missing"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "not root: cannot install$$missing (lab tests will not run)"; fi; \
	fi

# The virtualenv, rebuilt when pyproject.toml changes.
venv: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $@

lab: deps venv
	@if [ "$$(id -u)" = 0 ]; then $(XCH) lab up; else echo "not root: skipping 'xch lab up' (lab tests will skip, or fail with XCH_REQUIRE_LAB=1)"; fi

# The system lab: full-system VMs (vm-arm64 under TCG, vm-x86), images built once and cached in /var/lib/xch/lab/vm.
lab-vm: deps venv
	@if [ "$$(id -u)" = 0 ]; then $(XCH) lab up --vm; else echo "not root: skipping 'xch lab up --vm' (VM lab tests will skip, or fail with XCH_REQUIRE_LAB=1)"; fi

lab-down: venv
	$(XCH) lab down
	$(XCH) lab down --vm

demo: lab lab-vm
	XCH=$(XCH) bash scripts/demo.sh

postgres:
	@bash scripts/postgres-up.sh

test: lab lab-vm postgres
	$(PY) -m pytest tests $(PYTEST_ARGS)

# Static checks: ruff (pyflakes, pycodestyle, import order, bugbear, pyupgrade; config in pyproject.toml).
lint: venv
	$(VENV)/bin/ruff check harness suites tests benchmarks conftest.py

unit: venv
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

bench: lab lab-vm postgres
	$(PY) benchmarks/transport_overhead.py
	$(PY) benchmarks/fleet.py
	$(PY) benchmarks/whitelist_compile.py
	$(PY) benchmarks/report_build.py
	$(PY) benchmarks/scan_precision.py
	$(PY) benchmarks/vm_lab.py

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
