// Wrapper module: builds the pinned kube-router (only its NetworkPolicy firewall is used) from the Go module proxy.
module fabrikam.local/toolchain/kube-router

go 1.24.0

require github.com/cloudnativelabs/kube-router/v2 v2.1.0
