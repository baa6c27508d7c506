// crashy is a controller-like program: a work queue feeds main.reconcileObject
// every -interval. After -after it enqueues a nil object; reconcileObject's
// type switch falls into the default branch and calls a method on the nil
// interface, which panics with "invalid memory address or nil pointer
// dereference" (SIGSEGV). The Go runtime then exits with status 2.
//
// Self-contained and compatible with Go 1.21 (no fleetsrv import) so panic
// tracebacks can be captured with several Go versions.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"runtime"
	"strconv"
	"time"
)

// Object is what the controller reconciles.
type Object interface {
	Kind() string
}

// Pod is one kind of object.
type Pod struct{ Name string }

// Kind implements Object.
func (p *Pod) Kind() string { return "Pod" }

// ConfigMap is another kind of object.
type ConfigMap struct{ Name string }

// Kind implements Object.
func (c *ConfigMap) Kind() string { return "ConfigMap" }

// reconcileObject handles one queued object. BUG: a nil Object reaches the
// default branch, where v is a nil interface and v.Kind() panics.
func reconcileObject(obj Object) string {
	switch v := obj.(type) {
	case *Pod:
		return "reconciled pod " + v.Name
	case *ConfigMap:
		return "reconciled configmap " + v.Name
	default:
		return "reconciled " + v.Kind() // PANIC: v is a nil interface
	}
}

// processQueue is the controller's worker loop.
func processQueue(queue <-chan Object) {
	for obj := range queue {
		fmt.Println(reconcileObject(obj))
	}
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address; port 0 picks a free port")
	portFile := flag.String("port-file", "", "write the chosen port to this file once listening")
	after := flag.Duration("after", 2*time.Second, "enqueue the nil object after this long")
	interval := flag.Duration("interval", 200*time.Millisecond, "time between queued objects")
	flag.Parse()

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatalf("crashy: listen: %v", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if *portFile != "" {
		if err := os.WriteFile(*portFile+".tmp", []byte(strconv.Itoa(port)+"\n"), 0o644); err != nil {
			log.Fatal(err)
		}
		if err := os.Rename(*portFile+".tmp", *portFile); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Printf("crashy: listening on %s (pid %d, %s), panicking after %v\n", ln.Addr(), os.Getpid(), runtime.Version(), *after)
	go func() { log.Fatal(http.Serve(ln, nil)) }()

	queue := make(chan Object)
	go processQueue(queue)
	deadline := time.Now().Add(*after)
	for i := 0; ; i++ {
		time.Sleep(*interval)
		if time.Now().After(deadline) {
			queue <- nil // the poison object
			select {}    // processQueue panics and takes the process down
		}
		if i%2 == 0 {
			queue <- &Pod{Name: "pod-" + strconv.Itoa(i)}
		} else {
			queue <- &ConfigMap{Name: "cm-" + strconv.Itoa(i)}
		}
	}
}
