// replay serves captured pprof profiles of real programs to the scale benchmark (bench/scale/run.sh),
// so that the benchmark measures the operator rather than live Go programs answering it.
//
// It listens on one port (0.0.0.0: every 127.x.y.z reaches it) and answers the endpoints gohealth
// scrapes: /debug/pprof/ (an index), goroutine?debug=1, ?debug=2 and the proto, heap?debug=1,
// mutex?debug=1 and block?debug=1. Everything else is a 404 (no capture has goroutineleak). The
// program behind a target is chosen by the connection's local address (the pod IP), from -mix.
// Every capture is read and inflated once at start; a request writes pre-built bytes.
//
// Growth: a target's clock starts at its first request and advances one capture round per -step.
// A program whose goroutine count rises over its rounds (a leak) then stays at its last round, so
// the operator's history of that target never goes backwards; a steady program walks its rounds back
// and forth. A format a round lacks is served from the nearest round that has it.
//
// GET /replay/stats (any address) prints the targets per program and the requests per endpoint.
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

type target struct {
	prog  *program
	start time.Time
}

type server struct {
	mix     *mix
	step    time.Duration
	targets sync.Map // netip.Addr -> *target
	// served[format] and the index / 404 counters: cheap atomics, for /replay/stats.
	served   [numFormats]atomic.Uint64
	indexes  atomic.Uint64
	notFound atomic.Uint64
}

var formatNames = [numFormats]string{"goroutine?debug=1", "goroutine?debug=2", "goroutine (proto)", "heap?debug=1", "mutex?debug=1", "block?debug=1"}

func (s *server) target(r *http.Request) *target {
	var addr netip.Addr
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(*net.TCPAddr); ok {
		addr = a.AddrPort().Addr().Unmap()
	}
	if t, ok := s.targets.Load(addr); ok {
		return t.(*target)
	}
	t, loaded := s.targets.LoadOrStore(addr, &target{prog: s.mix.pick(addr), start: time.Now()})
	tt := t.(*target)
	if !loaded {
		tt.prog.targets.Add(1)
	}
	return tt
}

// debugParam is the debug query parameter; the operator sends exactly "debug=N", so that case
// skips parsing.
func debugParam(r *http.Request) string {
	if v, ok := strings.CutPrefix(r.URL.RawQuery, "debug="); ok && !strings.ContainsAny(v, "&;") {
		return v
	}
	return r.URL.Query().Get("debug")
}

// endpointFormat is the format answering /debug/pprof/NAME?debug=DEBUG; false for an endpoint no
// capture has (goroutineleak, allocs, the heap proto, CPU profiles...).
func endpointFormat(name, debug string) (format, bool) {
	switch {
	case name == "goroutine" && (debug == "" || debug == "0"):
		return goroutineProto, true
	case name == "goroutine" && debug == "1":
		return goroutineDebug1, true
	case name == "goroutine" && debug == "2":
		return goroutineDebug2, true
	case name == "heap" && debug == "1":
		return heapDebug1, true
	case name == "mutex" && debug == "1":
		return mutexDebug1, true
	case name == "block" && debug == "1":
		return blockDebug1, true
	}
	return numFormats, false
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	if r.URL.Path == "/replay/stats" {
		h.Set("Content-Type", "text/plain; charset=utf-8")
		s.writeStats(w)
		return
	}
	name, ok := strings.CutPrefix(r.URL.Path, "/debug/pprof/")
	if !ok {
		s.notFound.Add(1)
		http.NotFound(w, r)
		return
	}
	t := s.target(r)
	round := t.prog.round(time.Since(t.start), s.step)
	var body []byte
	if name == "" {
		body = t.prog.index[round]
		h.Set("Content-Type", "text/html; charset=utf-8")
		s.indexes.Add(1)
	} else if f, ok := endpointFormat(name, debugParam(r)); ok && t.prog.bodies[round][f] != nil {
		body = t.prog.bodies[round][f]
		s.served[f].Add(1)
		if f == goroutineProto {
			h.Set("Content-Type", "application/octet-stream")
			h.Set("Content-Disposition", `attachment; filename="goroutine"`)
		} else {
			h.Set("Content-Type", "text/plain; charset=utf-8")
		}
	} else {
		s.notFound.Add(1)
		http.NotFound(w, r)
		return
	}
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	_, _ = w.Write(body)
}

func (s *server) writeStats(w io.Writer) {
	fmt.Fprintf(w, "index %d\n", s.indexes.Load())
	for f := range numFormats {
		fmt.Fprintf(w, "%s %d\n", formatNames[f], s.served[f].Load())
	}
	fmt.Fprintf(w, "404 %d\n", s.notFound.Load())
	for _, p := range s.mix.programs {
		fmt.Fprintf(w, "targets %s %d\n", p.name, p.targets.Load())
	}
}

func main() {
	addr := flag.String("addr", "0.0.0.0:0", "listen address; port 0 picks a free port")
	portFile := flag.String("port-file", "", "write the chosen port to this file once listening")
	fixtures := flag.String("fixtures", "crates/core/fixtures", "root of the capture directories named in -mix")
	mixFlag := flag.String("mix", defaultMix, "dir=weight,... : the programs replayed and their shares of the targets")
	step := flag.Duration("step", 30*time.Second, "time per capture round (0: always the last round)")
	flag.Parse()
	log.SetFlags(0)

	entries, err := parseMix(*mixFlag)
	if err != nil {
		log.Fatalf("replay: -mix: %v", err)
	}
	m := &mix{}
	var total uint32
	loaded := time.Now()
	for _, e := range entries {
		p, err := loadProgram(*fixtures, e.name)
		if err != nil {
			log.Fatalf("replay: %v", err)
		}
		total += e.weight
		m.programs = append(m.programs, p)
		m.cum = append(m.cum, total)
		fmt.Printf("replay: %s weight %d, %d rounds, goroutines %d -> %d, growing %v\n", p.name, e.weight,
			len(p.bodies), goroutineCount(&p.bodies[0]), goroutineCount(&p.bodies[len(p.bodies)-1]), p.growing)
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Printf("replay: loaded %d programs in %s, heap %d MiB\n", len(m.programs), time.Since(loaded).Round(time.Millisecond), ms.HeapAlloc>>20)

	s := &server{mix: m, step: *step}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatalf("replay: listen %s: %v", *addr, err)
	}
	if *portFile != "" {
		port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
		// Written whole, then renamed: run.sh polls for a non-empty file.
		if err := os.WriteFile(*portFile+".tmp", []byte(port+"\n"), 0o644); err != nil {
			log.Fatalf("replay: port file: %v", err)
		}
		if err := os.Rename(*portFile+".tmp", *portFile); err != nil {
			log.Fatalf("replay: port file: %v", err)
		}
	}
	fmt.Printf("replay: listening on %s (pid %d, %s)\n", ln.Addr(), os.Getpid(), runtime.Version())

	// On SIGTERM (run.sh's cleanup) print the counters before exiting.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-sig
		s.writeStats(os.Stdout)
		os.Exit(0)
	}()
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	if err := srv.Serve(ln); err != nil {
		log.Fatalf("replay: serve: %v", err)
	}
}
