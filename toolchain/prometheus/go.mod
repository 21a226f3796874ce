// Wrapper module: builds the pinned Prometheus server and its promtool (rule checker and unit tester) from the Go module proxy.
module fabrikam.local/toolchain/prometheus

go 1.26.7

require github.com/prometheus/prometheus v0.316.0
