# Everything a contributor or CI runs goes through this file; see README.md.
SHELL := /bin/bash
export GOTOOLCHAIN := local
export GOFLAGS := -buildvcs=false
BIN := $(CURDIR)/bin
CP := hack/controlplane/cp.sh
# envtest finds etcd and kube-apiserver here (built by $(CP) build).
export KUBEBUILDER_ASSETS := $(BIN)

.PHONY: help build image controlplane up run demo down status test test-unit chaos scale burst bench generate docs verify clean

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

build: ## build bin/karpenter
	go build -o $(BIN)/karpenter ./cmd/karpenter

image: ## write bin/karpenter-image.tar, the controller image the chart's default values name (no Docker needed)
	go run ./hack/image -o $(BIN)/karpenter-image.tar $(IMAGE_FLAGS)

controlplane: ## build the local control plane binaries (cold ~10 min, then cached)
	$(CP) build

up: build ## start the local control plane with the CRDs installed
	$(CP) up

run: ## the main job: control plane, CRDs, default NodePool, controller on the simulated cloud
	hack/run.sh run

demo: ## play the flash-sale scenario (0 -> 300 -> 20 pods) on the local cluster
	hack/run.sh demo

down: ## stop the controller and the local control plane
	hack/run.sh stop
	$(CP) down

status: ## say what of the local control plane runs
	$(CP) status

test: controlplane ## run every test (builds the control plane binaries envtest needs)
	go vet ./...
	go test -count=1 -timeout 45m ./...

test-unit: ## run the tests that need no API server
	go test -count=1 -short ./...

chaos: controlplane ## fault-injection suite, every scenario (make test runs the short form); prints the table
	CHAOS=full go test -count=1 -timeout 150m -run '^TestChaos$$' -v ./test/e2e/

scale: controlplane ## 2,000 nodes + 20,000 pods on KWOK: controller memory/CPU while quiet, then a 1,000-pod burst; prints the figures
	SCALE=1 go test -count=1 -timeout 150m -run '^TestScale$$' -v ./test/e2e/

burst: controlplane ## 1,000 bare pods at once on the local control plane (BURST=N to change): NodeClaim and binding times, price against a fresh plan
	BURST=$${BURST:-1000} go test -count=1 -timeout 20m -run '^TestBurst$$' -v ./test/e2e/

bench: ## run the scheduler benchmarks
	go test -run '^$$' -bench . -benchmem ./pkg/scheduling/

generate: ## regenerate deepcopy code and CRD YAML from the API markers
	go tool controller-gen object:headerFile=hack/boilerplate.go.txt paths=./pkg/apis/...
	go tool controller-gen crd paths=./pkg/apis/... output:crd:artifacts:config=config/crd
	go run ./hack/crdpatch config/crd
	rm -f charts/karpenter/crds/*.yaml && cp config/crd/*.yaml charts/karpenter/crds/
	$(MAKE) --no-print-directory docs

docs: ## regenerate the API reference in docs/reference from the CRDs
	rm -f docs/reference/*.md && go run ./docs/gen -out docs/reference

verify: generate ## regenerate and fail on any difference, check formatting and vet
	@git diff --exit-code -- pkg/apis config/crd charts/karpenter/crds docs/reference || { echo "generated files are stale: run make generate and commit"; exit 1; }
	@test -z "$$(git status --porcelain -- pkg/apis config/crd charts/karpenter/crds docs/reference)" || { git status --porcelain -- pkg/apis config/crd charts/karpenter/crds docs/reference; echo "untracked generated files: run make generate and commit"; exit 1; }
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	go vet ./...

clean: ## stop the control plane and remove its state (keeps built binaries)
	$(CP) clean
