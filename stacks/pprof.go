package stacks

import (
	"fmt"
	"io"
	"strconv"

	"github.com/google/pprof/profile"
)

// Profile returns the table as a pprof profile: one sample type
// "hits/count", one sample per stack (leaf first) labelled with its probe
// and, when keyed, comm and pid; one location per distinct frame, one
// function per distinct function name.
func (t *Table) Profile() *profile.Profile {
	p := &profile.Profile{
		SampleType: []*profile.ValueType{{Type: "hits", Unit: "count"}},
		PeriodType: &profile.ValueType{Type: "hits", Unit: "count"},
		Period:     1,
	}
	funcs := map[string]*profile.Function{}
	locs := map[string]*profile.Location{}
	for _, s := range t.Stacks {
		smp := &profile.Sample{
			Value: []int64{int64(s.Count)},
			Label: map[string][]string{"probe": {s.Probe}},
		}
		if s.Comm != "" {
			smp.Label["comm"] = []string{s.Comm}
		}
		if s.Pid != 0 {
			smp.NumLabel = map[string][]int64{"pid": {int64(s.Pid)}}
		}
		for i, f := range s.Frames {
			l, ok := locs[f]
			if !ok {
				name := FuncName(f)
				fn, ok := funcs[name]
				if !ok {
					fn = &profile.Function{ID: uint64(len(funcs) + 1), Name: name, SystemName: name}
					funcs[name] = fn
					p.Function = append(p.Function, fn)
				}
				l = &profile.Location{ID: uint64(len(locs) + 1), Line: []profile.Line{{Function: fn}}}
				if s.Addrs != nil && i < len(s.Addrs) {
					l.Address = s.Addrs[i]
				}
				locs[f] = l
				p.Location = append(p.Location, l)
			}
			smp.Location = append(smp.Location, l)
		}
		p.Sample = append(p.Sample, smp)
	}
	if d := t.totalDropped(); d > 0 {
		p.Comments = append(p.Comments, "dropped "+strconv.FormatUint(d, 10)+" hits (the table was full)")
	}
	return p
}

func (t *Table) totalDropped() uint64 {
	var d uint64
	for _, n := range t.Dropped {
		d += n
	}
	return d
}

// WritePprof writes the gzipped profile.proto of Profile.
func (t *Table) WritePprof(w io.Writer) error {
	p := t.Profile()
	if err := p.CheckValid(); err != nil {
		return fmt.Errorf("write pprof profile: %w", err)
	}
	if err := p.Write(w); err != nil {
		return fmt.Errorf("write pprof profile: %w", err)
	}
	return nil
}
