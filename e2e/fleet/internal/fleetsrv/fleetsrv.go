// Package fleetsrv holds the listen/port-file boilerplate shared by the fleet
// programs. It serves http.DefaultServeMux, on which each program registers
// net/http/pprof with a blank import.
package fleetsrv

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
)

// Flags are the flags every fleet program takes.
type Flags struct {
	Addr     string
	PortFile string
}

// Register adds -addr and -port-file to the default flag set.
func Register() *Flags {
	f := &Flags{}
	flag.StringVar(&f.Addr, "addr", "127.0.0.1:0", "listen address; port 0 picks a free port")
	flag.StringVar(&f.PortFile, "port-file", "", "write the chosen port to this file once listening")
	return f
}

// Listen opens the listener and writes the port file (atomically, via rename).
func (f *Flags) Listen(name string) net.Listener {
	ln, err := net.Listen("tcp", f.Addr)
	if err != nil {
		log.Fatalf("%s: listen %s: %v", name, f.Addr, err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if f.PortFile != "" {
		tmp := f.PortFile + ".tmp"
		if err := os.WriteFile(tmp, []byte(strconv.Itoa(port)+"\n"), 0o644); err != nil {
			log.Fatalf("%s: write port file: %v", name, err)
		}
		if err := os.Rename(tmp, f.PortFile); err != nil {
			log.Fatalf("%s: rename port file: %v", name, err)
		}
	}
	fmt.Printf("%s: listening on %s (pid %d, %s)\n", name, ln.Addr(), os.Getpid(), runtime.Version())
	return ln
}

// Serve listens and serves h (nil = http.DefaultServeMux, with net/http/pprof)
// in a background goroutine.
func (f *Flags) Serve(name string, h http.Handler) net.Listener {
	ln := f.Listen(name)
	go func() {
		if err := http.Serve(ln, h); err != nil {
			log.Fatalf("%s: serve: %v", name, err)
		}
	}()
	return ln
}
