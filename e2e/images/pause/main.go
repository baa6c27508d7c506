// pause is the sandbox ("infra") container of the local e2e cluster: it holds the pod's namespaces and
// does nothing else until the kubelet stops the sandbox. Built here so the cluster needs no registry.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	<-stop
}
