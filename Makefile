# The project's verbs. `make run` and `make test` are all a newcomer needs.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
EXAMPLE ?= examples/breast-cancer-logreg.yaml

.PHONY: install run test test-deps unit integration chart e2e e2e-deps e2e-node bench lint crd demo clean images images-test node-deps

install: $(STAMP)  ## virtualenv with the package (editable) and the test tools

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "Python 3.11+ is needed (set PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	@touch $(STAMP)

run: install  ## LOOCV of the example manifest, locally (no cluster)
	$(BIN)/loocv run $(EXAMPLE) --local

# Two tests use Debian tools: promtool (the alert rules' unit tests) and headless chromium (the
# report opened in a browser). `make test` installs them when missing (root, apt-get).
TEST_PACKAGES := prometheus chromium
test-deps:  ## Debian packages the fast tests use (promtool, chromium)
	@command -v promtool >/dev/null && command -v chromium >/dev/null || { apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $(TEST_PACKAGES); }

test: install test-deps  ## tiers 1 (unit) and 2 (integration: kopf + kmock + S3 on loopback), and the chart
	$(BIN)/python -m pytest tests/unit tests/integration tests/chart

unit: install
	$(BIN)/python -m pytest tests/unit

integration: install
	$(BIN)/python -m pytest tests/integration

# The images without a Docker engine (podman + runc, FROM a base mmdebstrap makes from Debian
# packages; podman's storage under ~/.cache/loocv-operator/images). node-deps: the Debian
# packages that needs and the real e2e node runs on (root; apt-get update once).
NODE_PACKAGES := podman buildah containerd runc mmdebstrap skopeo umoci \
  containernetworking-plugins iptables conntrack gcc libc6-dev uidmap
node-deps:  ## Debian packages for `make images` and the real e2e node
	@dpkg -s $(NODE_PACKAGES) >/dev/null 2>&1 || { apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $(NODE_PACKAGES); }

images: node-deps  ## trainer + operator (+ pause) images, ~5 min cold, tagged ghcr.io/loocv-dev/*:<version>
	tests/e2e/images/build.sh

# The e2e tier runs in namespaces with no network: what it builds from the Go module proxy
# (control plane, kubelet, versitygw, Kueue, helm) is built first, out here (cached).
e2e-deps: install  ## build the e2e binaries from the Go module proxy (~20 min cold, cached)
	$(BIN)/python tests/e2e/build_deps.py

images-test: install images  ## inside each image: pinned versions, `loocv --version`, a real batch
	$(BIN)/python tests/e2e/build_deps.py --s3-only
	tests/e2e/images/run-isolated.sh $(BIN)/python -m pytest tests/e2e/test_images.py -m images -p no:cacheprovider

# The e2e tier runs inside a private network/mount/PID namespace (tests/e2e/node/isolated.sh):
# the real node's bridge, iptables rules, tmpfs mounts and sysctl files live and die with it.
e2e: install images e2e-deps  ## tier 3: real control plane + a real node running our images (~12 min cold)
	tests/e2e/node/isolated.sh $(BIN)/python -m pytest tests/e2e -m e2e -x

e2e-node: install images e2e-deps  ## only the scenarios on the real node (test_real_node.py, the Helm install)
	tests/e2e/node/isolated.sh $(BIN)/python -m pytest tests/e2e/test_real_node.py tests/e2e/test_helm_install_real_node.py -m realnode -x

# Part 4 (operator scale on the e2e control plane, ~15 min more) runs only where it can: root and
# the e2e binaries cached (`make e2e` builds them); else the document says why. BENCH_ARGS:
# --skip-cluster never runs it, --cluster also builds the binaries if missing.
BENCH_ARGS ?=
bench: install  ## benchmark suite -> docs/benchmarks.md (not a test; ~3 min on 2 cores, +~15 min part 4)
	$(BIN)/python -m bench $(BENCH_ARGS)

demo: install images e2e-deps  ## a private control plane + real node + S3 + the operator (helm); watch a run
	LOOCV_E2E_PIDFILE=$${TMPDIR:-/tmp}/loocv-demo.pid tests/e2e/node/isolated.sh $(BIN)/python tests/e2e/demo.py $(DEMO_ARGS)

lint: install  ## ruff and mypy
	$(BIN)/ruff check operator tests bench
	$(BIN)/ruff format --check operator tests bench
	$(BIN)/mypy

crd: install  ## regenerate crds/ from the manifest model
	$(BIN)/python -m loocv_operator.kube.crd > crds/loocvruns.loocv.dev.yaml
	cp crds/loocvruns.loocv.dev.yaml charts/loocv-operator/crds/

chart: install  ## Helm chart: lint, render, schemas, RBAC (builds helm once into ~/.cache, ~2 min)
	$(BIN)/python -m pytest tests/chart

clean:
	rm -rf $(VENV) loocv-results .pytest_cache .mypy_cache .ruff_cache
