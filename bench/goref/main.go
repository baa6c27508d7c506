// goref times the Go reference parsers on one file, for bench/run.sh:
//
//	proto   github.com/google/pprof/profile.Parse (gunzip + decode + postDecode)
//	debug1  github.com/google/pprof/profile.Parse (its legacy-text path, parseGoCount)
//	debug2  github.com/maruel/panicparse/v2/stack.ScanSnapshot + Aggregate (group by stack)
//
// It prints one line: format=… bytes=… iters=… median_ms=… mb_per_s=… peak_mb=… goroutines=…
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/pprof/profile"
	"github.com/maruel/panicparse/v2/stack"
)

func parse(format string, data []byte) (int, error) {
	switch format {
	case "proto", "debug1":
		p, err := profile.Parse(bytes.NewReader(data))
		if err != nil {
			return 0, err
		}
		n := int64(0)
		for _, s := range p.Sample {
			if len(s.Value) > 0 {
				n += s.Value[0]
			}
		}
		return int(n), nil
	case "debug2":
		// panicparse rejects a dump cut mid-goroutine (runtime.Stack stops at 64 MiB), which the
		// Rust parser reports as truncated: give it everything up to the last complete goroutine.
		if i := bytes.LastIndex(data, []byte("\n\n")); i > 0 && !bytes.HasSuffix(data, []byte("\n")) {
			data = data[:i+1]
		}
		// No path guessing and no source reading: parse and group only, like the Rust parser.
		opts := &stack.Opts{}
		snap, _, err := stack.ScanSnapshot(bytes.NewReader(data), io.Discard, opts)
		if err != nil && err != io.EOF {
			return 0, err
		}
		if snap == nil {
			return 0, fmt.Errorf("no goroutines")
		}
		agg := snap.Aggregate(stack.AnyPointer)
		_ = agg
		return len(snap.Goroutines), nil
	}
	return 0, fmt.Errorf("unknown format %q", format)
}

// peakRSS reads VmHWM (kB) from /proc/self/status.
func status(field string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, field) {
			f := strings.Fields(l)
			if len(f) >= 2 {
				v, _ := strconv.ParseInt(f[1], 10, 64)
				return v
			}
		}
	}
	return 0
}

func main() {
	format := flag.String("format", "debug2", "proto|debug1|debug2")
	file := flag.String("file", "", "input file")
	minIters := flag.Int("min-iters", 10, "minimum iterations")
	minSecs := flag.Float64("min-secs", 2, "minimum seconds")
	flag.Parse()
	before := status("VmRSS:")
	data, err := os.ReadFile(*file)
	if err != nil {
		log.Fatal(err)
	}
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
	n, err := parse(*format, data)
	if err != nil {
		log.Fatalf("parse: %v", err)
	}
	var times []time.Duration
	start := time.Now()
	for len(times) < *minIters || time.Since(start) < time.Duration(*minSecs*float64(time.Second)) {
		t := time.Now()
		if _, err := parse(*format, data); err != nil {
			log.Fatal(err)
		}
		times = append(times, time.Since(t))
		if len(times) >= 10000 {
			break
		}
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	med := times[len(times)/2]
	peak := status("VmHWM:") - before
	runtime.KeepAlive(data)
	debug.FreeOSMemory()
	mb := float64(len(data)) / 1e6
	fmt.Printf("format=%s bytes=%d iters=%d median_ms=%.3f mb_per_s=%.1f peak_mb=%.2f goroutines=%d\n",
		*format, len(data), len(times), med.Seconds()*1e3, mb/med.Seconds(), float64(peak)*1024/1e6, n)
}
