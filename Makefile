# The single entry point for building, checking and testing Sluice.
# `make help` lists the targets.

CARGO ?= cargo
SLUICE := $(or $(CARGO_TARGET_DIR),target)/debug/sluice

.PHONY: help demo bench build test unit lint fmt crds crds-check control-plane cluster-up cluster-down e2e image clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-15s %s\n", $$1, $$2}'

demo: ## Run the demo Flow in local mode: Opportunities above 10,000, masked, to Parquet under ./out/
	$(CARGO) run --locked --quiet -- local -f demo/opportunities.yaml

bench: ## Pipeline benchmark on 1M and 10M records; writes bench/RESULTS.md (BENCH_SIZES to change)
	bench/run.sh

build: ## Build the sluice binary
	$(CARGO) build --locked

test: ## The whole suite: installs what it needs, starts a real API server, prints a summary
	e2e/scripts/test.sh

unit: ## Unit and integration tests that need no server (API-server tests show as ignored)
	$(CARGO) test --locked --all-targets

lint: ## rustfmt and clippy, as CI runs them
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets --locked -- -D warnings

fmt: ## Format the code
	$(CARGO) fmt --all

# The CRDs live in three places that must stay equal: crds/ (kubectl apply -f),
# the chart's crds/ (helm install) and config/crd/bases (kubectl apply -k).
CRD_COPIES := charts/sluice/crds config/crd/bases

crds: build ## Regenerate crds/ (and the chart's and kustomize's copies) from src/api
	rm -f crds/*.yaml
	$(SLUICE) crds --out-dir crds
	@for d in $(CRD_COPIES); do rm -f $$d/*.yaml && cp crds/*.yaml $$d/; done

crds-check: build ## Fail when crds/ or a copy differs from what the code generates
	@tmp=$$(mktemp -d) && $(SLUICE) crds --out-dir $$tmp && diff -r $$tmp crds/ \
	  && for d in $(CRD_COPIES); do diff -r crds/ $$d/ || { echo "$$d differs from crds/: run 'make crds'" >&2; exit 1; }; done \
	  && rm -rf $$tmp && echo "crds/, charts/sluice/crds and config/crd/bases are up to date"

control-plane: ## Build (once) and print the directory of etcd, kube-apiserver and kubectl
	@e2e/scripts/k8s-bin.sh

cluster-up: ## Start a test control plane in .cache/cluster (source .cache/cluster/env to use it)
	e2e/scripts/control-plane.sh up $(CURDIR)/.cache/cluster

cluster-down: ## Stop the test control plane
	e2e/scripts/control-plane.sh down $(CURDIR)/.cache/cluster

e2e: ## Real single-node cluster (kubelet, containerd): chart, kustomize, image, scenarios; needs root
	e2e/scripts/e2e.sh

image: ## Build the container image with Docker (Dockerfile; needs a registry for the base images)
	docker build -t sluice:dev .

clean: ## Remove build outputs
	$(CARGO) clean
