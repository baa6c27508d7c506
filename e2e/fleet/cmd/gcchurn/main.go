// gcchurn: main.churn allocates lots of short-lived garbage (plus a small live
// set) with a low GOGC, so GCs are frequent and GCCPUFraction is noticeable.
package main

import (
	"flag"
	"fmt"
	_ "net/http/pprof"
	"runtime"
	"runtime/debug"
	"time"

	"gohealth.dev/e2e/fleet/internal/fleetsrv"
)

var sink []byte

// churn allocates short-lived buffers in a tight loop, keeping a small ring of
// them alive so the heap is not empty.
func churn(live int, pause time.Duration) {
	ring := make([][]byte, live)
	for i := 0; ; i++ {
		for j := 0; j < 1000; j++ {
			b := make([]byte, 1024+(i*7+j*13)%(32*1024)) // GARBAGE
			b[0] = byte(j)
			ring[(i*1000+j)%live] = b
			sink = b
		}
		if pause > 0 {
			time.Sleep(pause)
		}
	}
}

func main() {
	srv := fleetsrv.Register()
	gogc := flag.Int("gogc", 10, "debug.SetGCPercent value")
	workers := flag.Int("workers", 1, "churning goroutines")
	live := flag.Int("live", 256, "buffers kept alive per worker")
	pause := flag.Duration("pause", 0, "sleep after every 1000 allocations")
	flag.Parse()
	debug.SetGCPercent(*gogc)
	srv.Serve("gcchurn", nil)
	fmt.Printf("gcchurn: %d x main.churn, GOGC=%d\n", *workers, *gogc)
	for i := 0; i < *workers; i++ {
		go churn(*live, *pause)
	}
	t := time.NewTicker(5 * time.Second)
	for range t.C {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		fmt.Printf("gcchurn: NumGC=%d GCCPUFraction=%.4f HeapAlloc=%d\n", ms.NumGC, ms.GCCPUFraction, ms.HeapAlloc)
	}
}
