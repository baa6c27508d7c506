package main

// A minimal decoder for the gzipped profile.proto the Go runtime writes, just
// enough to record checkable facts in manifest.json. Standard library only.

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"sort"
)

type protoFacts struct {
	SampleTypes       []string         `json:"sample_types"` // "type/unit"
	PeriodType        string           `json:"period_type"`
	Period            int64            `json:"period"`
	DefaultSampleType string           `json:"default_sample_type,omitempty"`
	TimeNanosSet      bool             `json:"time_nanos_set"`
	DurationNanos     int64            `json:"duration_nanos"`
	Samples           int              `json:"samples"`
	ValueSums         []int64          `json:"value_sums"`                   // per sample type, summed over samples
	Labels            []string         `json:"labels,omitempty"`             // string labels "k=v"
	LabelSampleValue  map[string]int64 `json:"label_value0,omitempty"`       // string label "k=v" -> sum of value[0] of samples carrying it
	NumLabelKeys      []string         `json:"numeric_label_keys,omitempty"` // keys of numeric labels (e.g. heap "bytes")
	Locations         int              `json:"locations"`
	NumFunctions      int              `json:"functions"`
	Mappings          int              `json:"mappings"`
	Functions         []string         `json:"-"`
}

type pbuf struct {
	b []byte
	i int
}

func (p *pbuf) varint() (uint64, error) {
	var v uint64
	for s := uint(0); s < 64; s += 7 {
		if p.i >= len(p.b) {
			return 0, io.ErrUnexpectedEOF
		}
		c := p.b[p.i]
		p.i++
		v |= uint64(c&0x7f) << s
		if c < 0x80 {
			return v, nil
		}
	}
	return 0, errors.New("varint overflow")
}

// next returns field number, wire type, and for wire type 2 the bytes, for 0 the value.
func (p *pbuf) next() (int, int, uint64, []byte, error) {
	k, err := p.varint()
	if err != nil {
		return 0, 0, 0, nil, err
	}
	f, wt := int(k>>3), int(k&7)
	switch wt {
	case 0:
		v, err := p.varint()
		return f, wt, v, nil, err
	case 1:
		p.i += 8
		return f, wt, 0, nil, nil
	case 5:
		p.i += 4
		return f, wt, 0, nil, nil
	case 2:
		n, err := p.varint()
		if err != nil {
			return 0, 0, 0, nil, err
		}
		if p.i+int(n) > len(p.b) {
			return 0, 0, 0, nil, io.ErrUnexpectedEOF
		}
		b := p.b[p.i : p.i+int(n)]
		p.i += int(n)
		return f, wt, 0, b, nil
	}
	return 0, 0, 0, nil, fmt.Errorf("unsupported wire type %d", wt)
}

// ints reads a repeated int field that may be packed (wt 2) or not (wt 0).
func ints(wt int, v uint64, b []byte) []uint64 {
	if wt == 0 {
		return []uint64{v}
	}
	q := &pbuf{b: b}
	var out []uint64
	for q.i < len(q.b) {
		x, err := q.varint()
		if err != nil {
			break
		}
		out = append(out, x)
	}
	return out
}

func decodeProfile(gz []byte) (*protoFacts, error) {
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return nil, err
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		return nil, err
	}
	var strs []string
	type vt struct{ t, u uint64 }
	var sampleTypes []vt
	var periodType vt
	var samples [][]byte
	var funcs [][]byte
	pf := &protoFacts{}
	var defaultST uint64
	p := &pbuf{b: raw}
	readVT := func(b []byte) vt {
		q := &pbuf{b: b}
		var r vt
		for q.i < len(q.b) {
			f, _, v, _, err := q.next()
			if err != nil {
				break
			}
			if f == 1 {
				r.t = v
			} else if f == 2 {
				r.u = v
			}
		}
		return r
	}
	for p.i < len(p.b) {
		f, _, v, b, err := p.next()
		if err != nil {
			return nil, err
		}
		switch f {
		case 1:
			sampleTypes = append(sampleTypes, readVT(b))
		case 2:
			samples = append(samples, b)
		case 3:
			pf.Mappings++
		case 4:
			pf.Locations++
		case 5:
			funcs = append(funcs, b)
		case 6:
			strs = append(strs, string(b))
		case 9:
			pf.TimeNanosSet = v != 0
		case 10:
			pf.DurationNanos = int64(v)
		case 11:
			periodType = readVT(b)
		case 12:
			pf.Period = int64(v)
		case 14:
			defaultST = v
		}
	}
	str := func(i uint64) string {
		if int(i) < len(strs) {
			return strs[i]
		}
		return fmt.Sprintf("?%d", i)
	}
	for _, st := range sampleTypes {
		pf.SampleTypes = append(pf.SampleTypes, str(st.t)+"/"+str(st.u))
	}
	pf.PeriodType = str(periodType.t) + "/" + str(periodType.u)
	if defaultST != 0 {
		pf.DefaultSampleType = str(defaultST)
	}
	pf.ValueSums = make([]int64, len(sampleTypes))
	labels := map[string]int64{}
	numKeys := map[string]bool{}
	for _, s := range samples {
		q := &pbuf{b: s}
		var vals []uint64
		var ls []string
		for q.i < len(q.b) {
			f, wt, v, b, err := q.next()
			if err != nil {
				return nil, err
			}
			switch f {
			case 2:
				vals = append(vals, ints(wt, v, b)...)
			case 3:
				lq := &pbuf{b: b}
				var k, sv uint64
				var num int64
				for lq.i < len(lq.b) {
					lf, _, lv, _, err := lq.next()
					if err != nil {
						break
					}
					switch lf {
					case 1:
						k = lv
					case 2:
						sv = lv
					case 3:
						num = int64(lv)
					}
				}
				if sv != 0 {
					ls = append(ls, str(k)+"="+str(sv))
				} else {
					_ = num
					numKeys[str(k)] = true
				}
			}
		}
		pf.Samples++
		for i := range vals {
			if i < len(pf.ValueSums) {
				pf.ValueSums[i] += int64(vals[i])
			}
		}
		for _, l := range ls {
			if len(vals) > 0 {
				labels[l] += int64(vals[0])
			}
		}
	}
	for l := range labels {
		pf.Labels = append(pf.Labels, l)
	}
	sort.Strings(pf.Labels)
	if len(labels) > 0 {
		pf.LabelSampleValue = labels
	}
	for k := range numKeys {
		pf.NumLabelKeys = append(pf.NumLabelKeys, k)
	}
	sort.Strings(pf.NumLabelKeys)
	for _, fb := range funcs {
		q := &pbuf{b: fb}
		for q.i < len(q.b) {
			f, _, v, _, err := q.next()
			if err != nil {
				break
			}
			if f == 2 {
				pf.Functions = append(pf.Functions, str(v))
			}
		}
	}
	sort.Strings(pf.Functions)
	pf.NumFunctions = len(pf.Functions)
	return pf, nil
}
