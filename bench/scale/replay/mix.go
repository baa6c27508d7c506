package main

import (
	"fmt"
	"hash/fnv"
	"net/netip"
	"sort"
	"strconv"
	"strings"
)

// defaultMix: weights in percent of a scale run's pods (run.sh gives the other 2 % to the hostile
// drip and status500 programs). Mostly small and mid-sized control-plane programs, the fleet's own
// healthy program (1,000 goroutines, the program the fleet mode serves), 2 % huge (karpenter, 3,936
// goroutines, 3 MiB debug=2 dumps) and 6 % leaking (the fleet's leaky program and four reproduced
// upstream leaks).
const defaultMix = "realworld/coredns=14,realworld/prometheus=10,realworld/alertmanager=10,realworld/etcd=12," +
	"realworld/kube-scheduler=10,realworld/kube-controller-manager=12,realworld/kube-apiserver=4," +
	"diagnose/healthy=18,realworld/karpenter=2,diagnose/leaky=2,realworld/leaks/httpclient=1," +
	"realworld/leaks/txlogger=1,realworld/leaks/handlers=1,realworld/leaks/watcher=1"

type mixEntry struct {
	name   string
	weight uint32
}

// parseMix reads "dir=weight,..." (dir relative to the fixtures root).
func parseMix(s string) ([]mixEntry, error) {
	var out []mixEntry
	seen := map[string]bool{}
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, w, ok := strings.Cut(part, "=")
		if !ok {
			return nil, fmt.Errorf("mix entry %q: want dir=weight", part)
		}
		weight, err := strconv.ParseUint(w, 10, 16)
		if err != nil || weight == 0 {
			return nil, fmt.Errorf("mix entry %q: weight must be a positive integer", part)
		}
		if seen[name] {
			return nil, fmt.Errorf("mix entry %q: %s listed twice", part, name)
		}
		seen[name] = true
		out = append(out, mixEntry{name, uint32(weight)})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("empty mix")
	}
	return out, nil
}

// mix picks a program per destination address: a hash, not the address order, so the choice does
// not line up with pods.py, which also assigns ports by pod index.
type mix struct {
	programs []*program
	// cum[i]: sum of the weights of programs[0..i].
	cum []uint32
}

func (m *mix) pick(addr netip.Addr) *program {
	h := fnv.New32a()
	b := addr.As16()
	_, _ = h.Write(b[:])
	x := h.Sum32() % m.cum[len(m.cum)-1]
	return m.programs[sort.Search(len(m.cum), func(i int) bool { return x < m.cum[i] })]
}
