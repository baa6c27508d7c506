package main

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// format is one pprof endpoint a capture can answer.
type format int

const (
	goroutineDebug1 format = iota
	goroutineDebug2
	goroutineProto
	heapDebug1
	mutexDebug1
	blockDebug1
	numFormats
)

// fileSuffix maps the capture file names (crates/core/fixtures/{realworld,diagnose}/*/N-<suffix>) to formats.
var fileSuffix = map[string]format{
	"goroutine-debug1.txt.gz": goroutineDebug1,
	"goroutine-debug2.txt.gz": goroutineDebug2,
	"goroutine.pb.gz":         goroutineProto,
	"heap-debug1.txt.gz":      heapDebug1,
	"mutex-debug1.txt.gz":     mutexDebug1,
	"block-debug1.txt.gz":     blockDebug1,
}

// captureName is "<round>-<suffix>" or "last-<suffix>" (taken after the last numbered round).
var captureName = regexp.MustCompile(`^([0-9]+|last)-(.+)$`)

// program is one captured upstream program, every round inflated once at start so a request costs
// only a header and a write.
type program struct {
	name string
	// bodies[round][format]: the bytes served in that round; the nearest round that has the format
	// when this one lacks it (captures take debug=1, proto, mutex and block only at some rounds);
	// nil when no round has it (404).
	bodies [][numFormats][]byte
	// index[round]: the /debug/pprof/ page.
	index [][]byte
	// growing: the goroutine count rises from the first round to the last (a leak). Such a program
	// stays at its last round instead of looping, so a target's history never goes backwards.
	growing bool
	// targets: addresses assigned to this program so far (for /replay/stats).
	targets atomic.Uint64
}

// loadProgram reads every capture of dir (named by its path under the fixtures root).
func loadProgram(root, name string) (*program, error) {
	dir := filepath.Join(root, name)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("program %s: %w", name, err)
	}
	numbered := map[int]map[format][]byte{}
	last := map[format][]byte{}
	maxRound := -1
	for _, e := range entries {
		m := captureName.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		f, ok := fileSuffix[m[2]]
		if !ok {
			continue
		}
		body, err := readCapture(filepath.Join(dir, e.Name()), f)
		if err != nil {
			return nil, fmt.Errorf("program %s: %w", name, err)
		}
		if m[1] == "last" {
			last[f] = body
			continue
		}
		n, err := strconv.Atoi(m[1])
		if err != nil {
			return nil, fmt.Errorf("program %s: round of %s: %w", name, e.Name(), err)
		}
		if numbered[n] == nil {
			numbered[n] = map[format][]byte{}
		}
		numbered[n][f] = body
		maxRound = max(maxRound, n)
	}
	if maxRound < 0 {
		return nil, fmt.Errorf("program %s: no numbered captures in %s", name, dir)
	}
	// "last-" files were taken right after the last numbered round: they count as that round when it
	// lacks the format.
	for f, body := range last {
		if numbered[maxRound] == nil {
			numbered[maxRound] = map[format][]byte{}
		}
		if _, ok := numbered[maxRound][f]; !ok {
			numbered[maxRound][f] = body
		}
	}
	p := &program{name: name}
	rounds := maxRound + 1
	p.bodies = make([][numFormats][]byte, rounds)
	p.index = make([][]byte, rounds)
	for r := range rounds {
		for f := range numFormats {
			p.bodies[r][f] = nearest(numbered, r, rounds, f)
		}
		// debug=1 of this very moment, when the round has a dump but no debug=1 of its own.
		if _, own := numbered[r][goroutineDebug1]; !own {
			if d2, ok := numbered[r][goroutineDebug2]; ok {
				p.bodies[r][goroutineDebug1] = debug1From(d2)
			}
		}
		p.index[r] = renderIndex(&p.bodies[r])
	}
	if p.bodies[0][goroutineDebug1] == nil && p.bodies[0][goroutineDebug2] == nil {
		return nil, fmt.Errorf("program %s: no goroutine profile in any round", name)
	}
	first, final := goroutineCount(&p.bodies[0]), goroutineCount(&p.bodies[rounds-1])
	p.growing = final > first+first/5
	return p, nil
}

// nearest returns format f of round r, or of the closest round that has it (the earlier one on a tie).
func nearest(numbered map[int]map[format][]byte, r, rounds int, f format) []byte {
	for d := range rounds {
		for _, c := range []int{r - d, r + d} {
			if body, ok := numbered[c][f]; ok {
				return body
			}
		}
	}
	return nil
}

// readCapture inflates a text capture; a proto stays gzipped, as net/http/pprof serves it.
func readCapture(path string, f format) ([]byte, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if f == goroutineProto {
		return raw, nil
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	body, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return body, nil
}

// goroutineCount is the round's goroutine total: the debug=1 header, else the debug=2 records.
func goroutineCount(b *[numFormats][]byte) int {
	if d2 := b[goroutineDebug2]; d2 != nil {
		n := bytes.Count(d2, []byte("\ngoroutine "))
		if bytes.HasPrefix(d2, []byte("goroutine ")) {
			n++
		}
		return n
	}
	if d1 := b[goroutineDebug1]; d1 != nil {
		line, _, _ := bytes.Cut(d1, []byte("\n"))
		if s, ok := strings.CutPrefix(string(line), "goroutine profile: total "); ok {
			if n, err := strconv.Atoi(strings.TrimSpace(s)); err == nil {
				return n
			}
		}
	}
	return 0
}

// round is the capture round served at elapsed time since a target's first request: one round per
// step; a growing program then stays at its last round, a steady one walks back and forth.
func (p *program) round(elapsed, step time.Duration) int {
	n := len(p.bodies)
	if n == 1 || step <= 0 {
		return n - 1
	}
	k := int(elapsed / step)
	if p.growing {
		return min(k, n-1)
	}
	period := 2 * (n - 1)
	m := k % period
	if m < n {
		return m
	}
	return period - m
}
