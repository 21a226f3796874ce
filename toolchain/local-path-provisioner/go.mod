// Wrapper module: builds the pinned local-path-provisioner from the Go module proxy.
module fabrikam.local/toolchain/local-path-provisioner

go 1.23.0

require github.com/rancher/local-path-provisioner v0.0.30
