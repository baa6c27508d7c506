// leaky leaks goroutines steadily at two sites:
//
//   - fetchWithTimeout spawns a sender goroutine (main.fetchWithTimeout.func1)
//     per simulated request; the caller gives up after a short timeout and
//     returns, so the sender blocks forever in "chan send" on an unbuffered
//     channel nobody reads any more. -rate per second (default 20).
//   - startSubscription spawns main.waitForever, which blocks forever in
//     "chan receive" on a channel nobody ever closes. -wait-rate per second
//     (default 2).
//
// Both channels are only referenced by the leaked goroutines, so on Go 1.27
// (or 1.26 with GOEXPERIMENT=goroutineleakprofile) the goroutineleak profile
// reports them.
package main

import (
	"errors"
	"flag"
	"fmt"
	_ "net/http/pprof"
	"sync/atomic"
	"time"

	"gohealth.dev/e2e/fleet/internal/fleetsrv"
)

var errTimeout = errors.New("backend timeout")

var (
	leaked  atomic.Int64
	allocKB = 64
	sink    []byte
)

// slowBackend simulates a backend call that is slower than the caller's timeout.
func slowBackend(d time.Duration) string {
	time.Sleep(d)
	return "payload"
}

// fetchWithTimeout is the classic "premature return" leak: the result channel
// is unbuffered, so once the select below has taken the timeout branch the
// sender goroutine can never complete its send.
func fetchWithTimeout(backend, timeout time.Duration) (string, error) {
	ch := make(chan string) // BUG: unbuffered; should be make(chan string, 1)
	go func() {
		ch <- slowBackend(backend) // LEAK: blocks forever in "chan send"
	}()
	select {
	case r := <-ch:
		return r, nil
	case <-time.After(timeout):
		return "", errTimeout
	}
}

// handleRequest simulates an HTTP handler calling a slow backend. It also
// allocates a response buffer, so the program runs GCs like a real service
// (the runtime only starts counting "N minutes" for a blocked goroutine once
// a GC has seen it blocked).
func handleRequest(id int) {
	sink = make([]byte, allocKB<<10)
	if _, err := fetchWithTimeout(20*time.Millisecond, time.Millisecond); err != nil {
		leaked.Add(1)
	}
}

// waitForever blocks on a channel that nobody will ever close.
func waitForever(done <-chan struct{}) {
	<-done // LEAK: blocks forever in "chan receive"
}

// startSubscription starts a subscriber whose stop channel is dropped.
func startSubscription() {
	done := make(chan struct{}) // BUG: never closed, reference dropped
	go waitForever(done)
}

func main() {
	srv := fleetsrv.Register()
	rate := flag.Int("rate", 20, "leaked fetchWithTimeout senders per second")
	waitRate := flag.Int("wait-rate", 2, "leaked waitForever goroutines per second")
	max := flag.Int("max", 200000, "stop leaking after this many goroutines per site (safety cap)")
	flag.IntVar(&allocKB, "alloc-kb", allocKB, "KiB allocated per simulated request (drives GC)")
	flag.Parse()
	srv.Serve("leaky", nil)
	fmt.Printf("leaky: leaking %d senders/s (main.fetchWithTimeout.func1) and %d receivers/s (main.waitForever)\n", *rate, *waitRate)

	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	sent, waits := 0, 0
	for range tick.C {
		for i := 0; i < *rate && sent < *max; i++ {
			go handleRequest(sent)
			sent++
		}
		for i := 0; i < *waitRate && waits < *max; i++ {
			startSubscription()
			waits++
		}
	}
}
