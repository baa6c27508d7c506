//go:build tools

// Package tools pins the kube-apiserver main package so `go mod tidy`
// keeps every dependency needed by `go build k8s.io/kubernetes/cmd/kube-apiserver`.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
)
