// upstreamleaks reproduces the shapes of documented upstream goroutine leaks, one class per
// -class flag value, each growing at -rate per second under a steady synthetic load (see README.md
// in this directory for the upstream issue each one follows):
//
//	httpclient  an http.Client (own Transport) per request and a response body never closed:
//	            net/http.(*persistConn).readLoop/writeLoop pairs pile up, created by Transport.dialConn
//	recvloop    a per-request goroutine sends its result on an unbuffered channel after the caller
//	            gave up on a timeout (etcd client watch recvLoop style): main.(*watchStream).recvLoop
//	txlogger    a per-transaction logger goroutine on a time.Ticker that is never stopped:
//	            main.(*txn).logLoop wakes every -tick and never exits
//	poolsubmit  a worker pool whose submit path holds one mutex while waiting for a free worker:
//	            submitters pile up on sync.Mutex.Lock in main.(*pool).submit
//	watcher     a watch whose result channel is never drained or stopped: the decoder goroutine
//	            blocks on send in main.(*streamWatcher).receive
//	handlers    an event handler registered per reconcile and never removed: a listener's pop/run
//	            pair per registration, main.(*listener).pop waiting for notifications
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	_ "net/http/pprof"
	"sync"
	"time"

	"gohealth.dev/e2e/fleet/internal/fleetsrv"
)

var tick = flag.Duration("tick", 500*time.Millisecond, "txlogger: ticker period of each leaked logger")

// ---- httpclient -------------------------------------------------------------------------------

// fetchStatus creates a client per call and never closes the body: the connection stays in the
// Transport with its read and write loops, and nothing can reuse or close it.
func fetchStatus(url string) (int, error) {
	client := &http.Client{Transport: &http.Transport{}} // BUG: per request, never CloseIdleConnections
	resp, err := client.Get(url)
	if err != nil {
		return 0, err
	}
	return resp.StatusCode, nil // BUG: resp.Body never closed
}

// ---- recvloop ---------------------------------------------------------------------------------

type watchStream struct{ resp chan string }

// recvLoop delivers the server's answer; nobody receives it after the caller's timeout.
func (w *watchStream) recvLoop() {
	time.Sleep(5 * time.Millisecond)
	w.resp <- "event" // LEAK: unbuffered, the caller is gone
}

func watchOnce(timeout time.Duration) error {
	w := &watchStream{resp: make(chan string)}
	go w.recvLoop()
	select {
	case <-w.resp:
		return nil
	case <-time.After(timeout):
		return context.DeadlineExceeded
	}
}

// ---- txlogger ---------------------------------------------------------------------------------

type txn struct{ id int }

// logLoop logs the transaction's progress on a ticker and has no way to stop.
func (t *txn) logLoop() {
	tk := time.NewTicker(*tick) // BUG: never stopped, no done channel
	for range tk.C {
		_ = t.id
	}
}

func beginTxn(id int) { go (&txn{id: id}).logLoop() }

// ---- poolsubmit -------------------------------------------------------------------------------

type pool struct {
	mu    sync.Mutex
	slots chan struct{}
}

// submit holds the pool lock while it waits for a free slot; the slots are never given back on the
// error path, so the first submitter waits forever with the lock held and the rest queue on it.
func (p *pool) submit(job func() error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.slots <- struct{}{}
	if err := job(); err == nil {
		<-p.slots
	} // BUG: slot leaked on error
}

// ---- watcher ----------------------------------------------------------------------------------

type streamWatcher struct{ result chan string }

// receive decodes events and sends them on an unbuffered channel: with nobody reading, it blocks.
func (sw *streamWatcher) receive() {
	for {
		sw.result <- "ADDED" // LEAK: ResultChan never drained, Stop never called
	}
}

func startWatch() *streamWatcher {
	sw := &streamWatcher{result: make(chan string)}
	go sw.receive()
	return sw
}

// ---- handlers ---------------------------------------------------------------------------------

type listener struct {
	add  chan string
	next chan string
}

func (l *listener) pop() {
	var pending []string
	for {
		var out chan string
		var first string
		if len(pending) > 0 {
			out, first = l.next, pending[0]
		}
		select {
		case n, ok := <-l.add:
			if !ok {
				return
			}
			pending = append(pending, n)
		case out <- first:
			pending = pending[1:]
		}
	}
}

func (l *listener) run() {
	for range l.next {
	}
}

// addEventHandler registers a listener; reconcile calls it every time and never removes it.
func addEventHandler() {
	l := &listener{add: make(chan string), next: make(chan string)}
	go l.pop()
	go l.run()
}

func main() {
	srv := fleetsrv.Register()
	class := flag.String("class", "recvloop", "httpclient, recvloop, txlogger, poolsubmit, watcher or handlers")
	rate := flag.Int("rate", 10, "leaked objects per second")
	max := flag.Int("max", 100000, "stop leaking after this many (safety cap)")
	flag.Parse()
	srv.Serve("upstreamleaks", nil)

	var once func(i int)
	switch *class {
	case "httpclient":
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			panic(err)
		}
		backend := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, "ok")
		})}
		go func() { _ = backend.Serve(ln) }()
		url := "http://" + ln.Addr().String() + "/status"
		once = func(int) { _, _ = fetchStatus(url) }
	case "recvloop":
		once = func(int) { _ = watchOnce(time.Millisecond) }
	case "txlogger":
		once = beginTxn
	case "poolsubmit":
		p := &pool{slots: make(chan struct{}, 4)}
		fail := func() error { return fmt.Errorf("backend unavailable") }
		once = func(int) { go p.submit(fail) }
	case "watcher":
		once = func(int) { _ = startWatch() }
	case "handlers":
		once = func(int) { addEventHandler() }
	default:
		panic("unknown -class " + *class)
	}
	fmt.Printf("upstreamleaks: class %s, %d/s\n", *class, *rate)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	n := 0
	for range t.C {
		for i := 0; i < *rate && n < *max; i++ {
			go once(n)
			n++
		}
	}
}
