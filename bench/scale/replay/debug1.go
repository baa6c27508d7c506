package main

import (
	"bufio"
	"bytes"
	"fmt"
	"hash/fnv"
	"sort"
	"strings"
)

// debug1From renders goroutine?debug=1 from a debug=2 dump of the same moment: goroutines grouped
// by their frames (function, file:line), with made-up PCs (one per distinct frame). Captures take
// debug=1 only at some rounds; serving the nearest round's debug=1 beside another round's debug=2
// would show a program whose debug=1 never changes while its dump does.
func debug1From(d2 []byte) []byte {
	type group struct {
		frames [][2]string // function, file:line
		count  int
	}
	groups := map[string]*group{}
	var order []string
	total := 0
	var cur [][2]string
	inStack := false
	flush := func() {
		if !inStack {
			return
		}
		total++
		var key strings.Builder
		for _, f := range cur {
			key.WriteString(f[0])
			key.WriteByte('\x00')
			key.WriteString(f[1])
			key.WriteByte('\x00')
		}
		k := key.String()
		g, ok := groups[k]
		if !ok {
			g = &group{frames: cur}
			groups[k] = g
			order = append(order, k)
		}
		g.count++
		cur, inStack = nil, false
	}
	sc := bufio.NewScanner(bytes.NewReader(d2))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var fn string
	skipNext := false
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "goroutine ") && strings.HasSuffix(line, ":"):
			flush()
			inStack = true
		case line == "":
			flush()
		case !inStack:
		case skipNext:
			skipNext = false
		case strings.HasPrefix(line, "created by "):
			// The creator is not part of the stack; its file line follows.
			skipNext = true
		case strings.HasPrefix(line, "\t"):
			loc := strings.TrimPrefix(line, "\t")
			if i := strings.LastIndex(loc, " +0x"); i >= 0 {
				loc = loc[:i]
			}
			if fn != "" {
				cur = append(cur, [2]string{fn, loc})
				fn = ""
			}
		case strings.HasPrefix(line, "..."):
		default:
			fn = line
			if i := strings.LastIndex(fn, "("); i > 0 {
				fn = fn[:i]
			}
		}
	}
	flush()
	sort.SliceStable(order, func(i, j int) bool { return groups[order[i]].count > groups[order[j]].count })
	var out bytes.Buffer
	fmt.Fprintf(&out, "goroutine profile: total %d\n", total)
	pc := func(f [2]string) uint64 {
		h := fnv.New64a()
		h.Write([]byte(f[0]))
		h.Write([]byte(f[1]))
		return 0x400000 + h.Sum64()%0x1000000
	}
	for _, k := range order {
		g := groups[k]
		fmt.Fprintf(&out, "%d @", g.count)
		for _, f := range g.frames {
			fmt.Fprintf(&out, " %#x", pc(f))
		}
		out.WriteByte('\n')
		for _, f := range g.frames {
			fmt.Fprintf(&out, "#\t%#x\t%s+0x0\t%s\n", pc(f), f[0], f[1])
		}
		out.WriteByte('\n')
	}
	return out.Bytes()
}
