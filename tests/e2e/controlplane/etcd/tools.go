//go:build tools

// Package tools pins etcd's main package (go.etcd.io/etcd/server/v3 is the
// etcd binary in 3.5) so `go mod tidy` keeps its dependencies.
package tools

import (
	_ "go.etcd.io/etcd/server/v3"
)
