//go:build tools

// Package tools pins the Kueue controller manager built by ../build-kueue.sh so that
// `go mod tidy` keeps every module it needs in go.mod and go.sum.
package tools

import (
	_ "sigs.k8s.io/kueue/cmd/kueue"
)
