// goexit piles up goroutines that are stuck after runtime.Goexit:
//
//   - main.workerWithGoexit defers main.cleanupAfterExit and then
//     main.abortWithGoexit. When the worker returns, abortWithGoexit runs and
//     calls runtime.Goexit() from inside the deferred call; Goexit then runs the
//     remaining deferred call, cleanupAfterExit, which waits on a WaitGroup
//     that never reaches zero ("sync.WaitGroup.Wait" on Go 1.24+, "semacquire"
//     before). The goroutine never finishes exiting.
//   - main.taskFailNow calls runtime.Goexit() directly (the t.FailNow
//     pattern); its deferred main.releaseOnExit then blocks forever receiving
//     from a channel nobody closes ("chan receive").
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

// cleanupAfterExit runs as a deferred call after Goexit and blocks forever.
func cleanupAfterExit(pending *sync.WaitGroup) {
	pending.Wait() // STUCK: the counter never reaches zero
}

// abortWithGoexit is a deferred "abort the worker" hook that calls Goexit.
func abortWithGoexit() {
	runtime.Goexit() // runs the remaining defers: cleanupAfterExit
}

// workerWithGoexit: defer chain where Goexit is called from a deferred call and
// the next deferred call blocks.
func workerWithGoexit(id int) {
	var pending sync.WaitGroup
	pending.Add(1) // BUG: the matching Done is never called
	defer cleanupAfterExit(&pending)
	defer abortWithGoexit()
	work := make([]byte, allocKB<<10) // "work"; also drives GC like a real service
	work[0] = byte(id)
	sink = work
}

var (
	allocKB = 256
	sink    []byte
)

// releaseOnExit runs as a deferred call after Goexit and blocks forever.
func releaseOnExit(released <-chan struct{}) {
	<-released // STUCK: nobody closes released
}

// taskFailNow calls Goexit directly, like testing.T.FailNow.
func taskFailNow(id int) {
	released := make(chan struct{})
	defer releaseOnExit(released)
	if id >= 0 {
		runtime.Goexit()
	}
	close(released) // never reached
}

func main() {
	srv := fleetsrv.Register()
	rate := flag.Int("rate", 5, "workerWithGoexit goroutines started per second")
	failRate := flag.Int("fail-rate", 2, "taskFailNow goroutines started per second")
	max := flag.Int("max", 100000, "safety cap per site")
	flag.IntVar(&allocKB, "alloc-kb", allocKB, "KiB allocated per workerWithGoexit (drives GC)")
	flag.Parse()
	srv.Serve("goexit", nil)
	fmt.Printf("goexit: %d/s main.workerWithGoexit, %d/s main.taskFailNow\n", *rate, *failRate)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	a, b := 0, 0
	for range t.C {
		for i := 0; i < *rate && a < *max; i++ {
			go workerWithGoexit(a)
			a++
		}
		for i := 0; i < *failRate && b < *max; i++ {
			go taskFailNow(b)
			b++
		}
	}
}
