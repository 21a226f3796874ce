// Wrapper module: builds the pinned coredns from the Go module proxy.
module fabrikam.local/toolchain/coredns

go 1.24.0

require github.com/coredns/coredns v1.12.4
