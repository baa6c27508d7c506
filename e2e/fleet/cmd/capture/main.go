// capture builds a small, deterministic set of goroutines in known states,
// serves net/http/pprof on loopback, fetches every profile over HTTP and
// writes them (plus manifest.json with checkable facts) to -out. It is the
// source of operator/tests/fixtures/pprof/goX.Y/.
//
// It must compile with Go 1.21 (no range-over-int, no fleetsrv import): the
// fixture script copies it into a throw-away module whose go.mod says the
// capturing Go version.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ---- goroutines in known states -------------------------------------------

var (
	globalCh  = make(chan int) // reachable from a global: never reported as leaked
	globalCh2 = make(chan int)
	parked    sync.WaitGroup
	retained  [][]byte
)

// blockedSender blocks in "chan send" on a channel only it references (leaked on 1.27).
func blockedSender(ch chan int) {
	parked.Done()
	ch <- 1
}

// blockedReceiver blocks in "chan receive" on a channel only it references (leaked).
func blockedReceiver(ch chan int) {
	parked.Done()
	<-ch
}

// selectWaiter blocks in "select" on two channels only it references (leaked).
func selectWaiter(a, b chan int) {
	parked.Done()
	select {
	case <-a:
	case <-b:
	}
}

// mutexWaiter blocks in "sync.Mutex.Lock" on a mutex nobody will unlock (leaked).
func mutexWaiter(mu *sync.Mutex) {
	parked.Done()
	mu.Lock()
}

// waitGroupWaiter blocks in "sync.WaitGroup.Wait" ("semacquire" before Go 1.24) (leaked).
func waitGroupWaiter(wg *sync.WaitGroup) {
	parked.Done()
	wg.Wait()
}

// sleeper is in "sleep" (never reported as leaked).
func sleeper() {
	parked.Done()
	time.Sleep(time.Hour)
}

// ioWaiter is in "IO wait" accepting on an extra loopback listener (not leaked).
func ioWaiter(ln net.Listener) {
	parked.Done()
	c, err := ln.Accept()
	if err == nil {
		c.Close()
	}
}

// labelledWorker runs under two pprof labels ("worker"="capture",
// "tenant id"="a b") and waits on a global channel (not leaked).
func labelledWorker() {
	parked.Done()
	<-globalCh
}

// labelledLeaker runs under labels ("worker"="leaker", "request id"="r-1")
// and waits on a channel only it references (leaked).
func labelledLeaker(ch chan int) {
	parked.Done()
	<-ch
}

// spawnedChild is created by spawner (a non-main goroutine) and blocks on a
// channel only it references (leaked).
func spawnedChild(ch chan int) {
	parked.Done()
	<-ch
}

// spawner is a non-main goroutine that creates spawnedChild, then waits on a
// global channel (not leaked).
func spawner() {
	go spawnedChild(make(chan int))
	parked.Done()
	<-globalCh2
}

// tickerLoop is a running ticker loop ("chan receive", never leaked, never minutes).
func tickerLoop() {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	parked.Done()
	for range t.C {
	}
}

// contendedCounter hammers one mutex for d (mutex/block profile content).
func contendedCounter(mu *sync.Mutex, n *int, d time.Duration) {
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		mu.Lock()
		*n++
		for i := 0; i < 2000; i++ {
			*n += i & 1
		}
		mu.Unlock()
	}
}

func contentionBurst(workers int, d time.Duration) {
	var mu sync.Mutex
	var n int
	var wg sync.WaitGroup
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); contendedCounter(&mu, &n, d) }()
	}
	wg.Wait()
}

// retainHeap keeps ~8 MiB live so the heap profile has samples.
func retainHeap() {
	for i := 0; i < 256; i++ {
		retained = append(retained, make([]byte, 32<<10))
	}
}

type goroutineSpec struct {
	Function     string            `json:"function"`
	Count        int               `json:"count"`
	WaitReason   string            `json:"wait_reason"` // as in debug=2 headers of Go >= 1.24 (see notes)
	Labels       map[string]string `json:"labels,omitempty"`
	CreatedBy    string            `json:"created_by"`
	LeakExpected bool              `json:"leak_expected"` // in goroutineleak (Go 1.27)
}

func startGoroutines(extra net.Listener) []goroutineSpec {
	n := 0
	start := func(k int, f func()) {
		for i := 0; i < k; i++ {
			n++
			parked.Add(1)
			go f()
		}
	}
	start(3, func() { blockedSender(make(chan int)) })
	start(2, func() { blockedReceiver(make(chan int)) })
	start(1, func() { selectWaiter(make(chan int), make(chan int)) })
	mu := new(sync.Mutex)
	mu.Lock()
	start(1, func() { mutexWaiter(mu) })
	wg := new(sync.WaitGroup)
	wg.Add(1)
	start(1, func() { waitGroupWaiter(wg) })
	start(1, sleeper)
	start(1, func() { ioWaiter(extra) })
	pprof.Do(context.Background(), pprof.Labels("worker", "capture", "tenant id", "a b"), func(context.Context) {
		start(1, labelledWorker)
	})
	pprof.Do(context.Background(), pprof.Labels("worker", "leaker", "request id", "r-1"), func(context.Context) {
		start(1, func() { labelledLeaker(make(chan int)) })
	})
	parked.Add(1) // spawnedChild
	start(1, spawner)
	start(1, tickerLoop)
	parked.Wait()
	time.Sleep(200 * time.Millisecond) // let everything actually block
	wgReason := "sync.WaitGroup.Wait"
	return []goroutineSpec{
		{"main.blockedSender", 3, "chan send", nil, "main.startGoroutines.func1", true},
		{"main.blockedReceiver", 2, "chan receive", nil, "main.startGoroutines.func1", true},
		{"main.selectWaiter", 1, "select", nil, "main.startGoroutines.func1", true},
		{"main.mutexWaiter", 1, "sync.Mutex.Lock", nil, "main.startGoroutines.func1", true},
		{"main.waitGroupWaiter", 1, wgReason, nil, "main.startGoroutines.func1", true},
		{"main.sleeper", 1, "sleep", nil, "main.startGoroutines.func1", false},
		{"main.ioWaiter", 1, "IO wait", nil, "main.startGoroutines.func1", false},
		{"main.labelledWorker", 1, "chan receive", map[string]string{"worker": "capture", "tenant id": "a b"}, "main.startGoroutines.func1", false},
		{"main.labelledLeaker", 1, "chan receive", map[string]string{"worker": "leaker", "request id": "r-1"}, "main.startGoroutines.func1", true},
		{"main.spawner", 1, "chan receive", nil, "main.startGoroutines.func1", false},
		{"main.spawnedChild", 1, "chan receive", nil, "main.spawner", true},
		{"main.tickerLoop", 1, "chan receive", nil, "main.startGoroutines.func1", false},
	}
}

// ---- fetching and facts ------------------------------------------------------

type fileFacts struct {
	URL                 string            `json:"url,omitempty"`
	Status              int               `json:"status,omitempty"`
	ContentType         string            `json:"content_type,omitempty"`
	Bytes               int               `json:"bytes"`
	NumGoroutineBefore  int               `json:"num_goroutine_before,omitempty"` // runtime.NumGoroutine() just before the request
	HeaderTotal         *int              `json:"header_total,omitempty"`         // "<name> profile: total N"
	GoroutineHeaders    *int              `json:"goroutine_headers,omitempty"`    // debug=2: number of "goroutine N [" blocks
	LeakedHeaders       *int              `json:"leaked_headers,omitempty"`       // debug=2: headers with "(leaked)"
	Header              string            `json:"header,omitempty"`               // first line(s) of text profiles
	SamplingPeriod      string            `json:"sampling_period,omitempty"`      // mutex debug=1
	CyclesPerSecond     string            `json:"cycles_per_second,omitempty"`    // mutex/block debug=1
	Records             *int              `json:"records,omitempty"`              // debug=1: number of stack records
	Proto               *protoFacts       `json:"proto,omitempty"`
	MainFunctions       []string          `json:"main_functions,omitempty"` // main.* functions present in the file
	LabelsSeen          []string          `json:"labels_seen,omitempty"`    // k=v pairs present (text: debug=1 "# labels" lines)
	HeapProfileRateText string            `json:"heap_rate_text,omitempty"`
	Extra               map[string]string `json:"extra,omitempty"`
}

var mainFuncRe = func(s string) []string {
	seen := map[string]bool{}
	for _, f := range strings.FieldsFunc(s, func(r rune) bool {
		return r == ' ' || r == '\t' || r == '\n' || r == '(' || r == '+'
	}) {
		if strings.HasPrefix(f, "main.") && !strings.Contains(f, "/") && !strings.Contains(f, ".go:") {
			seen[strings.TrimSuffix(f, ",")] = true
		}
	}
	var out []string
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

type capturer struct {
	baseline int // runtime.NumGoroutine() with only the known goroutines
	base     string
	out      string
	client   *http.Client
	facts    map[string]*fileFacts
}

// settle waits (up to 2s) until the previous request's HTTP goroutines have
// exited, so every capture starts from the same goroutine set.
func (c *capturer) settle() {
	for end := time.Now().Add(2 * time.Second); c.baseline > 0 && runtime.NumGoroutine() > c.baseline && time.Now().Before(end); {
		time.Sleep(5 * time.Millisecond)
	}
}

func (c *capturer) fetch(file, path string) (*fileFacts, []byte) {
	c.settle()
	ff := &fileFacts{URL: path, NumGoroutineBefore: runtime.NumGoroutine()}
	resp, err := c.client.Get(c.base + path)
	if err != nil {
		log.Fatalf("capture: GET %s: %v", path, err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		log.Fatalf("capture: read %s: %v", path, err)
	}
	ff.Status = resp.StatusCode
	ff.ContentType = resp.Header.Get("Content-Type")
	ff.Bytes = len(body)
	if err := os.WriteFile(filepath.Join(c.out, file), body, 0o644); err != nil {
		log.Fatal(err)
	}
	c.facts[file] = ff
	if strings.HasSuffix(file, ".pb.gz") {
		pf, err := decodeProfile(body)
		if err != nil {
			log.Fatalf("capture: decode %s: %v", file, err)
		}
		ff.Proto = pf
		for _, fn := range pf.Functions {
			if strings.HasPrefix(fn, "main.") {
				ff.MainFunctions = append(ff.MainFunctions, fn)
			}
		}
	} else if strings.HasSuffix(file, ".txt") {
		textFacts(ff, string(body))
	}
	fmt.Printf("capture: %-32s %7d bytes  %s\n", file, len(body), path)
	return ff, body
}

func intp(v int) *int { return &v }

func textFacts(ff *fileFacts, s string) {
	lines := strings.Split(s, "\n")
	if len(lines) > 0 {
		ff.Header = lines[0]
	}
	if i := strings.Index(lines[0], " profile: total "); i >= 0 {
		if n, err := strconv.Atoi(strings.TrimSpace(lines[0][i+len(" profile: total "):])); err == nil {
			ff.HeaderTotal = intp(n)
		}
	}
	gh, lh, recs := 0, 0, 0
	labels := map[string]bool{}
	for _, l := range lines {
		switch {
		case strings.HasPrefix(l, "goroutine ") && strings.Contains(l, " [") && strings.HasSuffix(l, ":"):
			gh++
			if strings.Contains(l, "(leaked)") {
				lh++
			}
		case strings.HasPrefix(l, "sampling period="):
			ff.SamplingPeriod = strings.TrimPrefix(l, "sampling period=")
		case strings.HasPrefix(l, "cycles/second="):
			ff.CyclesPerSecond = strings.TrimPrefix(l, "cycles/second=")
		case strings.Contains(l, " @ ") && !strings.HasPrefix(l, "#") && !strings.HasPrefix(l, "heap profile:"):
			recs++
		case strings.HasPrefix(l, "# labels: "):
			var m map[string]string
			if err := json.Unmarshal([]byte(strings.TrimPrefix(l, "# labels: ")), &m); err == nil {
				for k, v := range m {
					labels[k+"="+v] = true
				}
			} else {
				labels["UNPARSED "+l] = true
			}
		}
	}
	if gh > 0 {
		ff.GoroutineHeaders = intp(gh)
		ff.LeakedHeaders = intp(lh)
	}
	if strings.Contains(s, " @ ") {
		ff.Records = intp(recs)
	}
	if strings.HasPrefix(ff.Header, "heap profile:") {
		if i := strings.LastIndex(ff.Header, "@ "); i >= 0 {
			ff.HeapProfileRateText = ff.Header[i+2:]
		}
	}
	for k := range labels {
		ff.LabelsSeen = append(ff.LabelsSeen, k)
	}
	sort.Strings(ff.LabelsSeen)
	ff.MainFunctions = mainFuncRe(s)
}

// ---- crash capture -----------------------------------------------------------

type crashFacts struct {
	Command    string   `json:"command"`
	Env        []string `json:"env,omitempty"`
	ExitCode   int      `json:"exit_code"`
	FirstLine  string   `json:"first_line"`
	Goroutines int      `json:"goroutine_headers"`
	Functions  []string `json:"main_functions"`
	Bytes      int      `json:"bytes"`
}

func captureCrash(bin, out, file string, env []string) *crashFacts {
	cmd := exec.Command(bin, "-addr", "127.0.0.1:0", "-after", "600ms")
	cmd.Env = append(os.Environ(), env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	cmd.Stdout = io.Discard
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		log.Fatalf("capture: run %s: %v", bin, err)
	}
	s := stderr.String()
	if err := os.WriteFile(filepath.Join(out, file), []byte(s), 0o644); err != nil {
		log.Fatal(err)
	}
	cf := &crashFacts{Command: filepath.Base(bin) + " -addr 127.0.0.1:0 -after 600ms", Env: env, ExitCode: code, Bytes: len(s), Functions: mainFuncRe(s)}
	cf.FirstLine = strings.SplitN(s, "\n", 2)[0]
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, "goroutine ") && strings.HasSuffix(l, ":") {
			cf.Goroutines++
		}
	}
	fmt.Printf("capture: %-32s %7d bytes  exit code %d\n", file, len(s), code)
	return cf
}

// ---- main ----------------------------------------------------------------------

func main() {
	out := flag.String("out", ".", "output directory")
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	crashy := flag.String("crashy", "", "path of a crashy binary built with the same Go; its panic is captured as panic.txt")
	only := flag.String("only-debug2", "", "only write goroutine?debug=2 to this file name (for GODEBUG variants) and exit")
	variants := flag.String("debug2-godebug", "", "comma-separated GODEBUG values (e.g. tracebacklabels=1); for each, re-run this program with it and write goroutine-debug2-<k>-<v>.txt")
	flag.Parse()

	runtime.SetMutexProfileFraction(0)
	runtime.SetBlockProfileRate(0)
	if err := os.MkdirAll(*out, 0o755); err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	go func() { log.Fatal(http.Serve(ln, nil)) }()
	extra, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("capture: %s serving on %s\n", runtime.Version(), ln.Addr())

	c := &capturer{
		base:   "http://" + ln.Addr().String(),
		out:    *out,
		client: &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}},
		facts:  map[string]*fileFacts{},
	}
	retainHeap()
	runtime.GC()
	specs := startGoroutines(extra)
	c.baseline = runtime.NumGoroutine()
	if *only != "" {
		if strings.HasPrefix(*only, "goroutineleak") {
			c.fetch(*only, "/debug/pprof/goroutineleak?debug=2")
		} else {
			c.fetch(*only, "/debug/pprof/goroutine?debug=2")
		}
		return
	}

	// 1. contention with profiling disabled: profiles stay empty.
	contentionBurst(4, 200*time.Millisecond)
	c.fetch("mutex-disabled-debug1.txt", "/debug/pprof/mutex?debug=1")
	c.fetch("block-disabled-debug1.txt", "/debug/pprof/block?debug=1")
	// 2. enable both and contend again.
	runtime.SetMutexProfileFraction(1)
	runtime.SetBlockProfileRate(1)
	contentionBurst(4, 300*time.Millisecond)
	runtime.GC()

	c.settle()
	numBefore := runtime.NumGoroutine()
	c.fetch("index.html", "/debug/pprof/")
	c.fetch("goroutine.pb.gz", "/debug/pprof/goroutine")
	c.fetch("goroutine-debug1.txt", "/debug/pprof/goroutine?debug=1")
	c.fetch("goroutine-debug2.txt", "/debug/pprof/goroutine?debug=2")
	c.fetch("heap.pb.gz", "/debug/pprof/heap")
	c.fetch("heap-debug1.txt", "/debug/pprof/heap?debug=1")
	c.fetch("allocs.pb.gz", "/debug/pprof/allocs")
	c.fetch("mutex.pb.gz", "/debug/pprof/mutex")
	c.fetch("mutex-debug1.txt", "/debug/pprof/mutex?debug=1")
	c.fetch("block.pb.gz", "/debug/pprof/block")
	c.fetch("block-debug1.txt", "/debug/pprof/block?debug=1")
	hasLeak := pprof.Lookup("goroutineleak") != nil
	if !hasLeak {
		c.fetch("goroutineleak-absent.txt", "/debug/pprof/goroutineleak?debug=1") // 404 "Unknown profile"
	} else {
		// Every goroutineleak request runs a leak-detection GC; leaked goroutines
		// keep the (leaked) status afterwards, hence the *-after-leak files.
		c.fetch("goroutineleak.pb.gz", "/debug/pprof/goroutineleak")
		c.fetch("goroutineleak-debug1.txt", "/debug/pprof/goroutineleak?debug=1")
		c.fetch("goroutineleak-debug2.txt", "/debug/pprof/goroutineleak?debug=2")
		c.fetch("goroutine-debug2-after-leak.txt", "/debug/pprof/goroutine?debug=2")
		c.fetch("index-after-leak.html", "/debug/pprof/")
	}

	if *variants != "" {
		self, err := os.Executable()
		if err != nil {
			log.Fatal(err)
		}
		for _, v := range strings.Split(*variants, ",") {
			prefix, url := "goroutine-debug2-", "/debug/pprof/goroutine?debug=2"
			if hasLeak { // full dump with (leaked) markers, in this GODEBUG's format
				prefix, url = "goroutineleak-debug2-", "/debug/pprof/goroutineleak?debug=2"
			}
			name := prefix + strings.NewReplacer("=", "-", ",", "_").Replace(v) + ".txt"
			cmd := exec.Command(self, "-out", *out, "-only-debug2", name)
			cmd.Env = append(os.Environ(), "GODEBUG="+v)
			cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
			if err := cmd.Run(); err != nil {
				log.Fatalf("capture: variant %s: %v", v, err)
			}
			b, err := os.ReadFile(filepath.Join(*out, name))
			if err != nil {
				log.Fatal(err)
			}
			ff := &fileFacts{URL: url, Status: 200, Bytes: len(b), Extra: map[string]string{"GODEBUG": v, "note": "separate process (same program), captured via -only-debug2"}}
			textFacts(ff, string(b))
			c.facts[name] = ff
		}
	}

	crashes := map[string]*crashFacts{}
	if *crashy != "" {
		crashes["panic.txt"] = captureCrash(*crashy, *out, "panic.txt", nil)
		crashes["panic-gotraceback-all.txt"] = captureCrash(*crashy, *out, "panic-gotraceback-all.txt", []string{"GOTRACEBACK=all"})
		crashes["panic-gotraceback-system.txt"] = captureCrash(*crashy, *out, "panic-gotraceback-system.txt", []string{"GOTRACEBACK=system"})
	}

	leakCount := 0
	for _, s := range specs {
		if s.LeakExpected {
			leakCount += s.Count
		}
	}
	manifest := map[string]any{
		"go_version":  runtime.Version(),
		"goos_goarch": runtime.GOOS + "/" + runtime.GOARCH,
		"captured_at": time.Now().UTC().Format(time.RFC3339),
		"godebug":     os.Getenv("GODEBUG"),
		"settings": map[string]any{
			"mutex_profile_fraction":          1,
			"block_profile_rate":              1,
			"mutex_profile_fraction_disabled": 0,
			"block_profile_rate_disabled":     0,
			"mem_profile_rate":                runtime.MemProfileRate,
			"gomaxprocs":                      runtime.GOMAXPROCS(0),
		},
		"num_goroutine_before_main_captures": numBefore,
		"num_goroutine_baseline":             c.baseline,
		"goroutines_started":                 specs,
		"goroutineleak_profile_registered":   hasLeak,
		"leaked_goroutines_expected":         leakCount,
		"files":                              c.facts,
		"crashes":                            crashes,
		"notes": []string{
			"num_goroutine_before is runtime.NumGoroutine() in the capturing goroutine right before the HTTP request; " +
				"header_total also counts the HTTP machinery alive during the request (server conn goroutine, client transport goroutines, a background-read goroutine), so it is a few higher.",
			"goroutines also present beyond goroutines_started: main (fetching), the HTTP accept loop (IO wait), per-request HTTP goroutines, runtime-hidden system goroutines are not counted by NumGoroutine.",
			"wait_reason for main.waitGroupWaiter is 'semacquire' before Go 1.24.",
			"leak_expected refers to the goroutineleak profile (Go 1.27; Go 1.26 only with GOEXPERIMENT=goroutineleakprofile).",
		},
	}
	b, _ := json.MarshalIndent(manifest, "", "  ")
	if err := os.WriteFile(filepath.Join(*out, "manifest.json"), append(b, '\n'), 0o644); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("capture: wrote %d files + manifest.json to %s\n", len(c.facts), *out)
}
