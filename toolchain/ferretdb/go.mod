// Wrapper module: builds the pinned FerretDB from the Go module proxy (CGO_ENABLED=0: a static binary; its SQLite
// handler is pure Go).
module fabrikam.local/toolchain/ferretdb

go 1.24

require github.com/FerretDB/FerretDB v1.24.2
