// Wrapper module: builds the pinned kube-network-policies from the Go module proxy.
module fabrikam.local/toolchain/kube-network-policies

go 1.24.0

require sigs.k8s.io/kube-network-policies v0.8.0
