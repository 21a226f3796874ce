// Wrapper module: builds the pinned Prometheus Operator and its config reloader from the Go module proxy (the real-node
// test of the services' alerts, tests/e2e/nodes/test_platform_dev.py).
module fabrikam.local/toolchain/prometheus-operator

go 1.26.7

require github.com/prometheus-operator/prometheus-operator v0.85.0
