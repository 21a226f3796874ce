// Wrapper module: builds the pinned kwok (simulated nodes and pods) from the Go module proxy.
module fabrikam.local/toolchain/kwok

go 1.24.0

require sigs.k8s.io/kwok v0.7.0
