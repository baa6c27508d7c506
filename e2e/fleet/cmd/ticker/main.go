// ticker leaks ticker loops: every -interval main.startPoller is called and
// starts `go main.pollLoop(...)`, a `for { select { case <-t.C: ... } }` loop
// with no exit path and no t.Stop(). The goroutines are never "blocked
// forever" (the ticker keeps waking them), so they never show "N minutes" in a
// debug=2 dump and never appear in the goroutineleak profile; only the count
// of identical pollLoop stacks grows.
package main

import (
	"flag"
	"fmt"
	_ "net/http/pprof"
	"sync/atomic"
	"time"

	"gohealth.dev/e2e/fleet/internal/fleetsrv"
)

var polls atomic.Int64

// pollLoop never returns and never stops its ticker.
func pollLoop(target int, period time.Duration) {
	t := time.NewTicker(period) // BUG: no t.Stop(), no exit path
	for {
		select {
		case <-t.C:
			polls.Add(1)
			_ = target
		}
	}
}

// startPoller is called for every reconcile and starts yet another loop
// instead of reusing the running one.
func startPoller(target int, period time.Duration) {
	go pollLoop(target, period) // LEAK: one more pollLoop per call
}

func main() {
	srv := fleetsrv.Register()
	interval := flag.Duration("interval", 500*time.Millisecond, "how often startPoller is called")
	period := flag.Duration("period", time.Second, "ticker period inside each pollLoop")
	max := flag.Int("max", 100000, "stop starting pollers after this many (safety cap)")
	flag.Parse()
	srv.Serve("ticker", nil)
	fmt.Printf("ticker: calling main.startPoller every %v (ticker period %v)\n", *interval, *period)
	t := time.NewTicker(*interval)
	defer t.Stop()
	for n := 0; ; {
		<-t.C
		if n < *max {
			startPoller(n, *period)
			n++
		}
	}
}
