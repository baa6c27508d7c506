// healthy is the false-positive trap: -consumers stable per-object loops
// (main.consumeQueue), each blocked in select on its own queue channel, a
// periodic ticker that IS stopped on exit, and a shutdown context. The
// goroutine count is constant after start-up (short request goroutines from
// main.handleShortRequest come and go and finish in a few milliseconds).
// Every other consumer runs under pprof labels worker=consumer,
// "queue shard"=<n> so label parsing can be tested.
package main

import (
	"context"
	"flag"
	"fmt"
	_ "net/http/pprof"
	"runtime/pprof"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"gohealth.dev/e2e/fleet/internal/fleetsrv"
)

var processed, ticks atomic.Int64

// consumeQueue is a well-behaved per-object loop: it exits on ctx.Done() or
// when its queue is closed, and always stops its ticker.
func consumeQueue(ctx context.Context, queue <-chan int, resync time.Duration) {
	t := time.NewTicker(resync)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case v, ok := <-queue:
			if !ok {
				return
			}
			processed.Add(int64(v))
		case <-t.C:
			ticks.Add(1)
		}
	}
}

// handleShortRequest is a short-lived goroutine that always finishes.
func handleShortRequest(queue chan<- int) {
	time.Sleep(2 * time.Millisecond)
	select {
	case queue <- 1:
	default:
	}
}

func main() {
	srv := fleetsrv.Register()
	consumers := flag.Int("consumers", 1000, "number of consumeQueue loops")
	resync := flag.Duration("resync", 5*time.Second, "ticker period inside each consumeQueue")
	rps := flag.Int("rps", 20, "short-lived handleShortRequest goroutines per second")
	flag.Parse()
	srv.Serve("healthy", nil)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	queues := make([]chan int, *consumers)
	var wg sync.WaitGroup
	for i := range queues {
		queues[i] = make(chan int, 16)
		q := queues[i]
		wg.Add(1)
		if i%2 == 0 {
			pprof.Do(ctx, pprof.Labels("worker", "consumer", "queue shard", strconv.Itoa(i%4)), func(ctx context.Context) {
				go func() { defer wg.Done(); consumeQueue(ctx, q, *resync) }()
			})
		} else {
			go func() { defer wg.Done(); consumeQueue(ctx, q, *resync) }()
		}
	}
	fmt.Printf("healthy: %d main.consumeQueue loops (half labelled worker=consumer), %d short requests/s\n", *consumers, *rps)

	var t *time.Ticker
	if *rps > 0 && len(queues) > 0 {
		t = time.NewTicker(time.Second / time.Duration(*rps))
		defer t.Stop()
		for i := 0; ; i++ {
			<-t.C
			go handleShortRequest(queues[i%len(queues)])
		}
	}
	wg.Wait()
}
