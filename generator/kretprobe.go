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

// krpField is a value a probe captures: an argument, the return value or
// the latency. Every field is stored widened to s64 or u64.
type krpField struct {
	Name    string // validated C identifier: the event field and struct member
	CType   string // the C type the raw register value is cast to first
	Storage string // "s64" or "u64"
	Format  string // printk conversion of Storage
	Index   int    // argument position (args only)
	Path    string // spec path, for the kgen markers
}

type krpProbe struct {
	Path      string // probes[i]
	ID        string
	Function  string // C string literal of the validated symbol
	Prefix    string // <module>_<id>: every static of the probe starts with it
	Maxactive int
	Args      []krpField
	Retval    *krpField
	Latency   bool
	Stack     bool
	Pid       int
	Comm      string // C string literal
	When      string // C expression over ev.*, "" = none
	WhenPath  string
	Hist      string // member of the event struct to histogram, "" = none
	HistSign  bool   // the histogram field is signed
	Fields    []krpField
}

type krpData struct {
	Header
	Upper    string
	Probes   []krpProbe
	AnyArgs  bool
	AnyStack bool
	AnyHist  bool
	AnyWhen  bool
}

func storage(t spec.CType) (string, string) {
	if t.Signed {
		return "s64", "%lld"
	}
	if t.Format == "0x%llx" {
		return "u64", "0x%llx"
	}
	return "u64", "%llu"
}

func field(name, typ, path string, index int) (krpField, error) {
	t, ok := spec.Types[typ]
	if !ok {
		return krpField{}, fmt.Errorf("%s: unknown type %q", path, typ)
	}
	st, f := storage(t)
	return krpField{Name: name, CType: t.C, Storage: st, Format: f, Index: index, Path: path}, nil
}

func (kretprobeKind) Files(s spec.Spec, h Header, out Output) ([]string, error) {
	k, ok := s.(*spec.Kretprobe)
	if !ok {
		return nil, fmt.Errorf("kretprobe generator given %T", s)
	}
	d := krpData{Header: h, Upper: strings.ToUpper(h.Name)}
	for i, p := range k.Probes {
		path := fmt.Sprintf("probes[%d]", i)
		// ID and the retval defaults come from spec's Default.
		id := p.ID
		kp := krpProbe{
			Path:      path,
			ID:        id,
			Function:  CString(p.Function),
			Prefix:    h.Name + "_" + id,
			Maxactive: p.Maxactive,
			Latency:   p.Latency,
			Stack:     p.Stack,
			Pid:       p.Filter.Pid,
			Comm:      CString(p.Filter.Comm),
		}
		for j, a := range p.Args {
			f, err := field(a.Name, a.Type, fmt.Sprintf("%s.args[%d]", path, j), a.Index)
			if err != nil {
				return nil, err
			}
			kp.Args = append(kp.Args, f)
		}
		kp.Fields = append(kp.Fields, kp.Args...)
		if p.Retval != nil {
			f, err := field(p.Retval.Name, p.Retval.Type, path+".retval", 0)
			if err != nil {
				return nil, err
			}
			kp.Retval = &f
			kp.Fields = append(kp.Fields, f)
		}
		if p.Latency {
			kp.Fields = append(kp.Fields, krpField{Name: "latency", CType: "u64", Storage: "u64", Format: "%llu", Path: path + ".latency"})
		}
		byName := map[string]krpField{}
		for _, f := range kp.Fields {
			byName[f.Name] = f
		}
		if p.When != nil {
			c, err := CExpr(p.When, h.Name, func(name string) (string, error) {
				if name == "pid" {
					return "((s64)current->tgid)", nil
				}
				if _, ok := byName[name]; !ok {
					return "", fmt.Errorf("%s.filter.when: unknown field %q", path, name)
				}
				return "((s64)ev." + name + ")", nil
			})
			if err != nil {
				return nil, err
			}
			kp.When = c
			kp.WhenPath = path + ".filter.when"
			d.AnyWhen = true
		}
		if p.Histogram != "" {
			f, ok := byName[p.Histogram]
			if !ok {
				return nil, fmt.Errorf("%s.histogram: unknown field %q", path, p.Histogram)
			}
			kp.Hist = f.Name
			kp.HistSign = f.Storage == "s64"
			d.AnyHist = true
		}
		d.AnyArgs = d.AnyArgs || len(kp.Args) > 0
		d.AnyStack = d.AnyStack || kp.Stack
		d.Probes = append(d.Probes, kp)
	}
	for _, f := range []struct{ tmpl, name string }{
		{"kretprobe/module.c.tmpl", h.Name + ".c"},
		{"kretprobe/trace.h.tmpl", h.Name + "_trace.h"},
	} {
		b, err := render(f.tmpl, d)
		if err != nil {
			return nil, err
		}
		if err := out.WriteFile(f.name, b); err != nil {
			return nil, fmt.Errorf("write %s: %w", f.name, err)
		}
	}
	features := []string{"HAVE_TRACE_EVENT_ENABLED"}
	if d.AnyArgs {
		features = append(features, "HAVE_REGS_GET_KERNEL_ARGUMENT")
	}
	if d.AnyStack {
		features = append(features, "HAVE_STACK_TRACE_SAVE")
	}
	return features, nil
}
