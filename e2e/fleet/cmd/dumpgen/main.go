// dumpgen parks -goroutines N goroutines in a few dozen distinct, realistic
// call sites (stack depths 5-29 main.* frames; chan receive, chan send, select,
// sync.Mutex.Lock, sync.WaitGroup.Wait and sleep states; some sites run under
// pprof labels), then writes the goroutine profile in three forms to -out:
//
//	goroutine-N.pb.gz        runtime/pprof Lookup("goroutine").WriteTo(w, 0)
//	goroutine-N-debug1.txt   ... WriteTo(w, 1)
//	goroutine-N-debug2.txt   ... WriteTo(w, 2)  (runtime.Stack; capped at 64 MiB by the runtime)
//
// and exits (or keeps serving with -hold). The site table is deterministic, so
// the same N always gives the same stacks and counts.
//
// With -unique-labels every goroutine also carries its own pprof label value
// (request_id=r<i>, like a per-request label in a server), so the aggregated
// formats (proto, debug=1) hold one sample per goroutine instead of one per
// site; the files are then named goroutine-N-unique* (proto benchmark at scale).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	_ "net/http/pprof"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"sync"
	"time"

	"gohealth.dev/e2e/fleet/internal/fleetsrv"
)

type site struct {
	ID     int               `json:"id"`
	Path   []string          `json:"path"`  // user frames, outermost first
	Depth  int               `json:"depth"` // user (main.*) frames on the stack, leaf to root
	State  string            `json:"state"`
	Labels map[string]string `json:"labels,omitempty"`
	Count  int               `json:"count"`

	layers []layerFunc
	ch     chan int
	mu     *sync.Mutex
	wg     *sync.WaitGroup
}

type layerFunc func(s *site, i int)

// descend calls the next layer, or parks in the site's state at the bottom.
func descend(s *site, i int) {
	if i+1 < len(s.layers) {
		s.layers[i+1](s, i+1)
		return
	}
	park(s)
}

var parked sync.WaitGroup

//go:noinline
func park(s *site) {
	parked.Done()
	switch s.State {
	case "chan receive":
		<-s.ch
	case "chan send":
		s.ch <- 1
	case "select":
		select {
		case <-s.ch:
		case <-neverClosed:
		}
	case "sync.Mutex.Lock":
		s.mu.Lock()
	case "sync.WaitGroup.Wait":
		s.wg.Wait()
	case "sleep":
		time.Sleep(365 * 24 * time.Hour)
	}
}

var neverClosed = make(chan struct{})

// The layer functions: a realistic-looking service call graph. Each one just
// goes one level deeper; noinline keeps every frame visible.

//go:noinline
func serveHTTP(s *site, i int) { descend(s, i) }

//go:noinline
func routeRequest(s *site, i int) { descend(s, i) }

//go:noinline
func authMiddleware(s *site, i int) { descend(s, i) }

//go:noinline
func loadSession(s *site, i int) { descend(s, i) }

//go:noinline
func handleOrder(s *site, i int) { descend(s, i) }

//go:noinline
func validateOrder(s *site, i int) { descend(s, i) }

//go:noinline
func reserveStock(s *site, i int) { descend(s, i) }

//go:noinline
func chargePayment(s *site, i int) { descend(s, i) }

//go:noinline
func queryInventory(s *site, i int) { descend(s, i) }

//go:noinline
func encodeResponse(s *site, i int) { descend(s, i) }

//go:noinline
func pollUpstream(s *site, i int) { descend(s, i) }

//go:noinline
func consumeEvents(s *site, i int) { descend(s, i) }

//go:noinline
func flushBatch(s *site, i int) { descend(s, i) }

//go:noinline
func retryWithBackoff(s *site, i int) { descend(s, i) }

//go:noinline
func watchConfig(s *site, i int) { descend(s, i) }

//go:noinline
func reconcileLoop(s *site, i int) { descend(s, i) }

//go:noinline
func syncCache(s *site, i int) { descend(s, i) }

//go:noinline
func dialBackend(s *site, i int) { descend(s, i) }

var layerTable = []struct {
	name string
	f    layerFunc
}{
	{"serveHTTP", serveHTTP}, {"routeRequest", routeRequest}, {"authMiddleware", authMiddleware},
	{"loadSession", loadSession}, {"handleOrder", handleOrder}, {"validateOrder", validateOrder},
	{"reserveStock", reserveStock}, {"chargePayment", chargePayment}, {"queryInventory", queryInventory},
	{"encodeResponse", encodeResponse}, {"pollUpstream", pollUpstream}, {"consumeEvents", consumeEvents},
	{"flushBatch", flushBatch}, {"retryWithBackoff", retryWithBackoff}, {"watchConfig", watchConfig},
	{"reconcileLoop", reconcileLoop}, {"syncCache", syncCache}, {"dialBackend", dialBackend},
}

var states = []string{"chan receive", "select", "sync.Mutex.Lock", "sleep", "sync.WaitGroup.Wait", "chan send"}

// buildSites makes nsites deterministic sites and spreads n goroutines over
// them with a skewed (1/(k+1)) distribution, at least one per site.
func buildSites(nsites, n int) []*site {
	sites := make([]*site, nsites)
	rng := uint32(2463534242)
	next := func() uint32 { rng ^= rng << 13; rng ^= rng >> 17; rng ^= rng << 5; return rng }
	weights, total := make([]float64, nsites), 0.0
	for k := range sites {
		layers := 1 + (k*5)%13 // user frames: start.func1 + layers*(layer+descend) + park = 5..29
		s := &site{ID: k, Depth: 2 + 2*layers + 1, State: states[k%len(states)], ch: make(chan int), mu: &sync.Mutex{}, wg: &sync.WaitGroup{}}
		for d := 0; d < layers; d++ {
			l := layerTable[next()%uint32(len(layerTable))]
			s.Path = append(s.Path, "main."+l.name)
			s.layers = append(s.layers, l.f)
		}
		if k%4 == 0 {
			s.Labels = map[string]string{"site": "s" + strconv.Itoa(k), "tenant id": "t" + strconv.Itoa(k%3)}
		}
		s.mu.Lock() // held forever: waiters block in Lock
		s.wg.Add(1) // never Done: waiters block in Wait
		sites[k] = s
		weights[k] = 1 / float64(k+1)
		total += weights[k]
	}
	left := n
	for k, s := range sites {
		c := int(float64(n) * weights[k] / total)
		if c < 1 {
			c = 1
		}
		if c > left {
			c = left
		}
		s.Count = c
		left -= c
	}
	for k := 0; left > 0; k = (k + 1) % nsites { // distribute the rounding remainder
		sites[k].Count++
		left--
	}
	return sites
}

// uniqueLabelKey is the per-goroutine label -unique-labels adds.
const uniqueLabelKey = "request_id"

func start(s *site, unique bool, next *int) {
	run := func() { s.layers[0](s, 0) }
	if unique {
		// One pprof.Do per goroutine: the new goroutine inherits the labels in force
		// at its creation, the site's plus its own request id.
		var kv []string
		for k, v := range s.Labels {
			kv = append(kv, k, v)
		}
		for j := 0; j < s.Count; j++ {
			id := "r" + strconv.Itoa(*next)
			*next++
			pprof.Do(context.Background(), pprof.Labels(append(kv, uniqueLabelKey, id)...), func(context.Context) {
				go run()
			})
		}
		return
	}
	if s.Labels != nil {
		var kv []string
		for k, v := range s.Labels {
			kv = append(kv, k, v)
		}
		pprof.Do(context.Background(), pprof.Labels(kv...), func(context.Context) {
			for j := 0; j < s.Count; j++ {
				go run()
			}
		})
		return
	}
	for j := 0; j < s.Count; j++ {
		go run()
	}
}

func write(dir, name string, debug int) (int64, time.Duration) {
	f, err := os.Create(filepath.Join(dir, name))
	if err != nil {
		log.Fatal(err)
	}
	t := time.Now()
	if err := pprof.Lookup("goroutine").WriteTo(f, debug); err != nil {
		log.Fatal(err)
	}
	d := time.Since(t)
	st, _ := f.Stat()
	_ = f.Close()
	return st.Size(), d
}

func main() {
	n := flag.Int("goroutines", 1000, "goroutines to park (e.g. 1000, 10000, 100000)")
	nsites := flag.Int("sites", 36, "distinct call sites")
	out := flag.String("out", ".", "output directory")
	addr := flag.String("addr", "", "if set, also serve net/http/pprof here (e.g. 127.0.0.1:0)")
	portFile := flag.String("port-file", "", "write the chosen port here (with -addr)")
	hold := flag.Bool("hold", false, "keep running (and serving) after writing the files")
	unique := flag.Bool("unique-labels", false, "give every goroutine its own pprof label value ("+uniqueLabelKey+"), one proto/debug=1 sample per goroutine; files goroutine-N-unique*")
	flag.Parse()
	if *n < *nsites {
		*nsites = *n
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		log.Fatal(err)
	}
	if *addr != "" {
		f := &fleetsrv.Flags{Addr: *addr, PortFile: *portFile}
		f.Serve("dumpgen", nil)
	}
	t0 := time.Now()
	sites := buildSites(*nsites, *n)
	parked.Add(*n)
	nextID := 0
	for _, s := range sites {
		start(s, *unique, &nextID)
	}
	parked.Wait()
	time.Sleep(100 * time.Millisecond) // let the last ones actually block
	fmt.Printf("dumpgen: parked %d goroutines in %d sites in %v (NumGoroutine=%d)\n", *n, len(sites), time.Since(t0).Round(time.Millisecond), runtime.NumGoroutine())

	base := "goroutine-" + strconv.Itoa(*n)
	if *unique {
		base += "-unique"
	}
	for _, w := range []struct {
		name  string
		debug int
	}{{base + ".pb.gz", 0}, {base + "-debug1.txt", 1}, {base + "-debug2.txt", 2}} {
		size, d := write(*out, w.name, w.debug)
		fmt.Printf("dumpgen: wrote %s (%d bytes) in %v\n", w.name, size, d.Round(time.Millisecond))
	}
	meta, _ := json.MarshalIndent(map[string]any{
		"goroutines_parked": *n, "num_goroutine": runtime.NumGoroutine(), "go_version": runtime.Version(), "sites": sites,
		"unique_labels": *unique, "unique_label_key": uniqueLabelKey,
	}, "", "  ")
	if err := os.WriteFile(filepath.Join(*out, base+"-sites.json"), meta, 0o644); err != nil {
		log.Fatal(err)
	}
	if *hold {
		select {}
	}
}
