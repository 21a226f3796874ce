// Wrapper module: builds the pinned etcd server from the Go module proxy.
module fabrikam.local/toolchain/etcd

go 1.26.0

require go.etcd.io/etcd/server/v3 v3.6.16
