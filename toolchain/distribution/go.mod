// Wrapper module: builds the pinned registry from the Go module proxy.
module fabrikam.local/toolchain/distribution

go 1.24.0

require github.com/distribution/distribution/v3 v3.0.0
