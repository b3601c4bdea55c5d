# The single entry point for building, checking and testing Sluice.
# `make help` lists the targets.

CARGO ?= cargo
SLUICE := target/debug/sluice

.PHONY: help demo bench build test unit lint fmt crds crds-check control-plane cluster-up cluster-down clean

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

crds: build ## Regenerate crds/ from src/api
	rm -f crds/*.yaml
	$(SLUICE) crds --out-dir crds

crds-check: build ## Fail when crds/ differs from what the code generates
	@tmp=$$(mktemp -d) && $(SLUICE) crds --out-dir $$tmp && diff -r $$tmp crds/ && rm -rf $$tmp && echo "crds/ is up to date"

control-plane: ## Build (once) and print the directory of etcd, kube-apiserver and kubectl
	@e2e/scripts/k8s-bin.sh

cluster-up: ## Start a test control plane in .cache/cluster (source .cache/cluster/env to use it)
	e2e/scripts/control-plane.sh up $(CURDIR)/.cache/cluster

cluster-down: ## Stop the test control plane
	e2e/scripts/control-plane.sh down $(CURDIR)/.cache/cluster

clean: ## Remove build outputs
	$(CARGO) clean
