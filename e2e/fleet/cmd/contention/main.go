// contention: -workers goroutines hammer one sync.Mutex (main.contendedCounter)
// and a sync.Map (main.syncMapChurn). With -profiling (default true) the
// program calls runtime.SetMutexProfileFraction(1) and
// runtime.SetBlockProfileRate(1); with -profiling=false both stay 0, so the
// mutex/block profiles are empty and mutex?debug=1 says "sampling period=0".
package main

import (
	"flag"
	"fmt"
	_ "net/http/pprof"
	"runtime"
	"sync"
	"time"

	"gohealth.dev/e2e/fleet/internal/fleetsrv"
)

var (
	mu      sync.Mutex
	counter = map[int]int{}
	shared  sync.Map
)

// spin burns a little CPU while holding the lock.
func spin(n int) int {
	x := 0
	for i := 0; i < n; i++ {
		x += i * i
	}
	return x
}

// contendedCounter holds one global mutex around a slow critical section.
func contendedCounter(id, hold int) {
	mu.Lock() // CONTENDED
	counter[id%64] += spin(hold)
	mu.Unlock()
}

// syncMapChurn stores and loads from one shared sync.Map.
func syncMapChurn(id int) {
	k := id % 128
	shared.Store(k, id)
	if v, ok := shared.Load((k + 1) % 128); ok {
		_ = v
	}
}

func worker(id, hold int, pause time.Duration) {
	for i := 0; ; i++ {
		contendedCounter(id, hold)
		syncMapChurn(id + i)
		if pause > 0 {
			time.Sleep(pause)
		}
	}
}

func main() {
	srv := fleetsrv.Register()
	profiling := flag.Bool("profiling", true, "enable mutex and block profiling (fraction/rate 1); false leaves both at 0")
	workers := flag.Int("workers", 8, "goroutines hammering the mutex")
	hold := flag.Int("hold", 20000, "spin iterations inside the critical section")
	pause := flag.Duration("pause", 50*time.Microsecond, "sleep between iterations (keeps CPU use moderate)")
	flag.Parse()
	if *profiling {
		runtime.SetMutexProfileFraction(1)
		runtime.SetBlockProfileRate(1)
	} else {
		runtime.SetMutexProfileFraction(0)
		runtime.SetBlockProfileRate(0)
	}
	srv.Serve("contention", nil)
	fmt.Printf("contention: %d workers on main.contendedCounter, profiling=%v\n", *workers, *profiling)
	var wg sync.WaitGroup
	for i := 0; i < *workers; i++ {
		wg.Add(1)
		go worker(i, *hold, *pause)
	}
	wg.Wait()
}
