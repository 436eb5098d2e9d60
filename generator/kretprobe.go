package generator

import (
	"fmt"
	"strings"

	"kgen/spec"
)

func init() { Register(spec.KindKretprobe, kretprobeKind{}) }

// kretprobeKind generates one kretprobe, trace event, set of counters and
// optional histogram per probe of a spec.Kretprobe.
type kretprobeKind struct{}

type krpProbe struct {
	Path      string // probes[i]
	ID        string // names the probe's statics, parameters, event and files
	Function  string // C string literal of the validated symbol
	Maxactive int
	Args      []Field
	Retval    *Field
	Latency   bool
	Stack     bool
	Entry     bool // entry-only: a plain kprobe, everything done at entry
	Stacks    *krpStacks
	Pid       int
	Comm      string // C string literal
	When      string // C expression over ev.*, "" = none
	WhenPath  string
	Hist      string // member of the event struct to histogram, "" = none
	HistSign  bool   // the histogram field is signed
	Fields    []Field
}

// krpStacks is a probe's stack-count table.
type krpStacks struct {
	Path    string // probes[i].stacks
	Entries int
	Depth   int
	ByComm  bool
	ByPid   bool
}

type krpData struct {
	Header
	Probes   []krpProbe
	Resolved string // C string literal: which probe became what
	Stacks   bool   // some probe counts stacks
}

func (kretprobeKind) Module(s spec.Spec, h Header) (Module, error) {
	k, ok := s.(*spec.Kretprobe)
	if !ok {
		return Module{}, fmt.Errorf("kretprobe generator given %T", s)
	}
	d := krpData{Header: h}
	var rt Runtime
	var resolved []string
	for i, p := range k.Probes {
		path := fmt.Sprintf("probes[%d]", i)
		// ID and the retval defaults come from spec's Default.
		kp := krpProbe{
			Path:      path,
			ID:        p.ID,
			Function:  CString(p.Function),
			Maxactive: p.Maxactive,
			Latency:   p.Latency,
			Stack:     p.Stack,
			Entry:     p.EntryOnly(),
			Pid:       p.Filter.Pid,
			Comm:      CString(p.Filter.Comm),
		}
		for j, a := range p.Args {
			f, err := NewField(a.Name, a.Type, fmt.Sprintf("%s.args[%d]", path, j), a.Index)
			if err != nil {
				return Module{}, err
			}
			kp.Args = append(kp.Args, f)
		}
		kp.Fields = append(kp.Fields, kp.Args...)
		if p.Retval != nil {
			f, err := NewField(p.Retval.Name, p.Retval.Type, path+".retval", 0)
			if err != nil {
				return Module{}, err
			}
			kp.Retval = &f
			kp.Fields = append(kp.Fields, f)
		}
		if p.Latency {
			kp.Fields = append(kp.Fields, LatencyField(path+".latency"))
		}
		if p.When != nil {
			c, err := WhenC(p.When, "ev", kp.Fields)
			if err != nil {
				return Module{}, fmt.Errorf("%s.filter.when: %w", path, err)
			}
			kp.When = c
			kp.WhenPath = path + ".filter.when"
			rt.When = true
		}
		if p.Histogram != "" {
			var hf *Field
			for i := range kp.Fields {
				if kp.Fields[i].Name == p.Histogram {
					hf = &kp.Fields[i]
				}
			}
			if hf == nil {
				return Module{}, fmt.Errorf("%s.histogram: unknown field %q", path, p.Histogram)
			}
			kp.Hist = hf.Name
			kp.HistSign = hf.Signed()
			rt.Hist = true
		}
		if st := p.Stacks; st != nil {
			kp.Stacks = &krpStacks{Path: path + ".stacks", Entries: st.MaxEntries, Depth: st.Depth, ByComm: st.ByComm(), ByPid: st.ByPid()}
			rt.Stacks, rt.Stack, d.Stacks = true, true, true
		}
		rt.Args = rt.Args || len(kp.Args) > 0
		rt.Stack = rt.Stack || kp.Stack
		d.Probes = append(d.Probes, kp)
		how := "kretprobe"
		if kp.Entry {
			how = "kprobe (entry-only: no retval, no latency)"
		}
		resolved = append(resolved, p.Function+": "+how)
	}
	d.Resolved = CString(strings.Join(resolved, "; "))
	return Module{Data: d, Runtime: rt}, nil
}
