package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"
)

const fixtures = "../../../crates/core/fixtures"

func TestRoundWalksSteadyAndHoldsGrowing(t *testing.T) {
	steady := &program{bodies: make([][numFormats][]byte, 4)}
	growing := &program{bodies: make([][numFormats][]byte, 4), growing: true}
	var gotSteady, gotGrowing []int
	for k := range 9 {
		gotSteady = append(gotSteady, steady.round(time.Duration(k)*time.Second, time.Second))
		gotGrowing = append(gotGrowing, growing.round(time.Duration(k)*time.Second, time.Second))
	}
	if fmt.Sprint(gotSteady) != "[0 1 2 3 2 1 0 1 2]" {
		t.Errorf("steady rounds %v", gotSteady)
	}
	if fmt.Sprint(gotGrowing) != "[0 1 2 3 3 3 3 3 3]" {
		t.Errorf("growing rounds %v", gotGrowing)
	}
}

func TestNearestRoundFillsMissingFormats(t *testing.T) {
	// Realworld captures: debug=1 at rounds 0 and 7 only.
	p, err := loadProgram(fixtures, "realworld/etcd")
	if err != nil {
		t.Fatal(err)
	}
	for r, want := range map[int]int{1: 0, 3: 0, 4: 7, 6: 7} {
		if &p.bodies[r][goroutineProto][0] != &p.bodies[want][goroutineProto][0] {
			t.Errorf("round %d: proto not taken from round %d", r, want)
		}
	}
	// debug=1 is rendered from the round's own dump instead.
	for r := range len(p.bodies) {
		d1 := string(p.bodies[r][goroutineDebug1])
		want := fmt.Sprintf("goroutine profile: total %d\n", goroutineCount(&[numFormats][]byte{goroutineDebug2: p.bodies[r][goroutineDebug2]}))
		if !strings.HasPrefix(d1, want) {
			t.Errorf("round %d: debug=1 starts %.40q, want %q", r, d1, want)
		}
	}
	// diagnose/leaky: "last-" files count as the last round; it grows, so it is held there.
	l, err := loadProgram(fixtures, "diagnose/leaky")
	if err != nil {
		t.Fatal(err)
	}
	if !l.growing || l.bodies[0][goroutineDebug1] == nil || l.bodies[0][mutexDebug1] != nil {
		t.Errorf("leaky: growing %v, debug=1 %v, mutex %v", l.growing, l.bodies[0][goroutineDebug1] != nil,
			l.bodies[0][mutexDebug1] != nil)
	}
	if strings.Contains(string(l.index[0]), "mutex") {
		t.Errorf("index lists a profile the capture lacks:\n%s", l.index[0])
	}
}

func TestDebug1FromADumpGroupsByFrames(t *testing.T) {
	d2 := `goroutine 1 [chan receive, 5 minutes]:
runtime.gopark(0x1?, 0x2?)
	/go/src/runtime/proc.go:435 +0xce
main.wait(...)
	/app/main.go:10
main.main()
	/app/main.go:20 +0x25

goroutine 7 [chan receive]:
runtime.gopark(0x1?, 0x2?)
	/go/src/runtime/proc.go:435 +0xce
main.wait(...)
	/app/main.go:10
main.main()
	/app/main.go:20 +0x25
created by main.start in goroutine 1
	/app/main.go:5 +0x3d

goroutine 9 [running]:
main.other()
	/app/other.go:3 +0x1
`
	got := string(debug1From([]byte(d2)))
	for _, want := range []string{
		"goroutine profile: total 3\n",
		"\n2 @ ",
		"\tmain.wait+0x0\t/app/main.go:10\n",
		"\n1 @ ",
		"\tmain.other+0x0\t/app/other.go:3\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in\n%s", want, got)
		}
	}
	if strings.Contains(got, "main.start") {
		t.Errorf("the creator is not a frame:\n%s", got)
	}
}

func TestDefaultMixLoadsAndSpreads(t *testing.T) {
	entries, err := parseMix(defaultMix)
	if err != nil {
		t.Fatal(err)
	}
	m := &mix{}
	var total uint32
	for _, e := range entries {
		p, err := loadProgram(fixtures, e.name)
		if err != nil {
			t.Fatal(err)
		}
		total += e.weight
		m.programs = append(m.programs, p)
		m.cum = append(m.cum, total)
	}
	// pods.py's addresses for 10,000 pods: each program's share within 1.5 points of its weight.
	counts := map[string]int{}
	for i := range 10000 {
		n := i + 1
		last := byte(n % 256)
		if last == 0 {
			last = 1
		}
		ip := netip.AddrFrom4([4]byte{127, byte(1 + n/65536), byte(n / 256 % 256), last})
		counts[m.pick(ip).name]++
	}
	for _, e := range entries {
		share := float64(counts[e.name]) / 10000 * float64(total)
		if d := share - float64(e.weight); d > 1.5 || d < -1.5 {
			t.Errorf("%s: %.1f of %d, want %d", e.name, share, total, e.weight)
		}
	}
}

func TestServesByLocalAddress(t *testing.T) {
	p, err := loadProgram(fixtures, "realworld/coredns")
	if err != nil {
		t.Fatal(err)
	}
	s := &server{mix: &mix{programs: []*program{p}, cum: []uint32{1}}, step: time.Minute}
	ts := httptest.NewUnstartedServer(s)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts.Listener = ln
	ts.Start()
	defer ts.Close()
	for path, want := range map[string]string{
		"/debug/pprof/":                      "200 <html>",
		"/debug/pprof/goroutine?debug=1":     "200 goroutine profile: total 18",
		"/debug/pprof/goroutine?debug=2":     "200 goroutine ",
		"/debug/pprof/goroutine":             "200 \x1f\x8b",
		"/debug/pprof/heap?debug=1":          "200 heap profile:",
		"/debug/pprof/mutex?debug=1":         "200 --- mutex:",
		"/debug/pprof/block?debug=1":         "200 --- contention:",
		"/debug/pprof/goroutineleak?debug=1": "404 ",
		"/debug/pprof/heap":                  "404 ",
	} {
		r, err := http.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r.Body)
		_ = r.Body.Close()
		got := fmt.Sprintf("%d %s", r.StatusCode, b)
		if !strings.HasPrefix(got, want) {
			t.Errorf("%s: got %.60q, want prefix %q", path, got, want)
		}
	}
	if _, ok := s.targets.Load(netip.MustParseAddr("127.0.0.1")); !ok {
		t.Error("target not keyed by its local address")
	}
}
