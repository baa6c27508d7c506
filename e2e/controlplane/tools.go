//go:build tools

// Package tools pins the control-plane main packages so `go mod tidy` keeps every dependency needed to build
// kube-apiserver, kube-controller-manager, kube-scheduler and the kubelet from the pinned k8s.io/kubernetes module.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
