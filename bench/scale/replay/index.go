package main

import (
	"bytes"
	"fmt"
)

// indexed are the profiles an index lists, in net/http/pprof's (sorted) order, with the format that
// answers NAME?debug=1.
var indexed = []struct {
	name string
	f    format
}{
	{"block", blockDebug1},
	{"goroutine", goroutineDebug1},
	{"heap", heapDebug1},
	{"mutex", mutexDebug1},
}

// renderIndex writes the /debug/pprof/ page in the shape Go 1.26's net/http/pprof renders (see
// crates/pprof/fixtures/go1.26/index.html), listing only the profiles this round can answer, so the
// operator does not ask for one it would get a 404 for. The counts are the records of the served
// profile (goroutines for goroutine).
func renderIndex(b *[numFormats][]byte) []byte {
	var w bytes.Buffer
	w.WriteString("<html>\n<head>\n<title>/debug/pprof/</title>\n</head>\n<body>\n/debug/pprof/\n<br>\n" +
		"<p>Set debug=1 as a query parameter to export in legacy text format</p>\n<br>\n" +
		"Types of profiles available:\n<table>\n<thead><td>Count</td><td>Profile</td></thead>\n")
	for _, e := range indexed {
		body := b[e.f]
		if e.name == "goroutine" && body == nil && b[goroutineDebug2] != nil {
			body = b[goroutineDebug2]
		}
		if body == nil {
			continue
		}
		count := bytes.Count(body, []byte(" @ 0x"))
		if e.name == "goroutine" {
			count = goroutineCount(b)
		}
		fmt.Fprintf(&w, "<tr><td>%d</td><td><a href='%s?debug=1'>%s</a></td></tr>\n", count, e.name, e.name)
	}
	w.WriteString("</table>\n<a href=\"goroutine?debug=2\">full goroutine stack dump</a>\n<br>\n</body>\n</html>\n")
	return w.Bytes()
}
