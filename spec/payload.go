package spec

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"kgen/indicator"
)

// KindPayload is the kind name of Payload specs.
const KindPayload = "payload"

// Payload is the spec of a KEDR-style payload: a module that watches the
// calls one target module makes to the kernel's memory allocation and
// free functions, and acts on the calls an indicator selects (trace them,
// dump the stack, simulate a failure), optionally tracking every
// allocation for a leak report. Only the target's calls are affected.
type Payload struct {
	Meta `yaml:",inline"`
	// Target is the module whose calls are intercepted; also the module
	// parameter "target".
	Target string `yaml:"target" json:"target"`
	// Attach is "before" (KEDR's rule: the payload must be loaded before
	// its target, and refuses a loaded one) or "loaded" (also attach to
	// an already loaded target, from then on). Default "before".
	Attach string `yaml:"attach,omitempty" json:"attach,omitempty"`
	// Points are the functions or families acted on.
	Points []PayloadPoint `yaml:"points,omitempty" json:"points,omitempty"`
	// LeakCheck, when present, tracks the target's allocations and frees.
	LeakCheck *LeakCheck `yaml:"leak_check,omitempty" json:"leak_check,omitempty"`
}

// PayloadPoint is one family (or one function) of the target's calls and
// what to do with the calls its indicator selects.
type PayloadPoint struct {
	// Name is a family (kmalloc, kmem_cache, kvmalloc, vmalloc, pages,
	// strings, free) or one member function of a family.
	Name string `yaml:"name" json:"name"`
	// Action: trace (an event), dump_stack (kernel log and an event with
	// the stack), fault (the call fails without running), none (count
	// only). Default trace.
	Action string `yaml:"action,omitempty" json:"action,omitempty"`
	// Expression is the KEDR indicator: the call is acted on when it is
	// non-zero. Default "1". Changeable at run time.
	Expression string `yaml:"expression,omitempty" json:"expression,omitempty"`
	// Pid restricts the point to a process and its descendants; 0 = any.
	Pid int `yaml:"pid,omitempty" json:"pid,omitempty"`
}

// LeakCheck sizes the leak check's bounded tables.
type LeakCheck struct {
	// MaxObjects is the number of live allocations tracked (a power of
	// two); more are counted as not tracked. Default 65536.
	MaxObjects int `yaml:"max_objects,omitempty" json:"max_objects,omitempty"`
	// MaxStacks is the number of distinct allocation stacks kept.
	MaxStacks int `yaml:"max_stacks,omitempty" json:"max_stacks,omitempty"`
	// StackDepth is the frames kept per allocation stack.
	StackDepth int `yaml:"stack_depth,omitempty" json:"stack_depth,omitempty"`
}

// Limits and defaults of the payload kind.
const (
	DefaultLeakObjects    = 65536
	MaxLeakObjects        = 1 << 20
	DefaultLeakStacks     = 4096
	MaxLeakStacks         = 65536
	DefaultLeakStackDepth = 16
	MaxLeakStackDepth     = 32
	MaxPayloadPoints      = 16
)

// Payload actions.
const (
	ActionTrace     = "trace"
	ActionDumpStack = "dump_stack"
	ActionFault     = "fault"
	ActionNone      = "none"
)

// PayloadFunc is a kernel function a payload can intercept: its family
// and the shape of its C signature (the generator knows each shape).
type PayloadFunc struct {
	Name   string
	Family string
	Sig    string
}

// The families, in the order points and reports list them. FamilyFree
// holds the free functions: they cannot fail, and their point's variable
// is the pointer.
const FamilyFree = "free"

var PayloadFamilies = []string{"kmalloc", "kmem_cache", "kvmalloc", "vmalloc", "pages", "strings", FamilyFree}

// PayloadFuncs lists every function of every family, across kernel
// versions (5.10 to 6.12): the build keeps those the target kernel exports
// with this signature. A name may appear twice with two signatures (6.12's
// bucket parameter exists with CONFIG_SLAB_BUCKETS only).
var PayloadFuncs = []PayloadFunc{
	// kmalloc(), kzalloc(), kmalloc_node(), kcalloc(), kmalloc_array()
	{"__kmalloc", "kmalloc", "size_flags"},
	{"__kmalloc_node", "kmalloc", "size_flags_node"},
	{"kmem_cache_alloc_trace", "kmalloc", "cache_flags_size"},
	{"kmem_cache_alloc_node_trace", "kmalloc", "cache_flags_node_size"},
	{"kmalloc_order_trace", "kmalloc", "size_flags_order"},
	{"kmalloc_trace", "kmalloc", "cache_flags_size"},
	{"kmalloc_node_trace", "kmalloc", "cache_flags_node_size"},
	{"kmalloc_large", "kmalloc", "size_flags"},
	{"kmalloc_large_node", "kmalloc", "size_flags_node"},
	{"__kmalloc_noprof", "kmalloc", "size_flags"},
	{"__kmalloc_node_noprof", "kmalloc", "size_bucket_flags_node"},
	{"__kmalloc_node_noprof", "kmalloc", "size_flags_node"},
	{"__kmalloc_cache_noprof", "kmalloc", "cache_flags_size"},
	{"__kmalloc_cache_node_noprof", "kmalloc", "cache_flags_node_size"},
	{"__kmalloc_large_noprof", "kmalloc", "size_flags"},
	{"__kmalloc_large_node_noprof", "kmalloc", "size_flags_node"},
	// kmem_cache_alloc(), kmem_cache_zalloc(), kmem_cache_alloc_node()
	{"kmem_cache_alloc", "kmem_cache", "cache_flags"},
	{"kmem_cache_alloc_node", "kmem_cache", "cache_flags_node"},
	{"kmem_cache_alloc_lru", "kmem_cache", "cache_lru_flags"},
	{"kmem_cache_alloc_noprof", "kmem_cache", "cache_flags"},
	{"kmem_cache_alloc_node_noprof", "kmem_cache", "cache_flags_node"},
	{"kmem_cache_alloc_lru_noprof", "kmem_cache", "cache_lru_flags"},
	// kvmalloc(), kvzalloc(), kvmalloc_array(), kvcalloc()
	{"kvmalloc_node", "kvmalloc", "size_flags_node"},
	{"__kvmalloc_node_noprof", "kvmalloc", "size_bucket_flags_node"},
	{"__kvmalloc_node_noprof", "kvmalloc", "size_flags_node"},
	// vmalloc(), vzalloc(), vmalloc_node(), vzalloc_node(), __vmalloc()
	{"vmalloc", "vmalloc", "vsize"},
	{"vzalloc", "vmalloc", "vsize"},
	{"vmalloc_node", "vmalloc", "vsize_node"},
	{"vzalloc_node", "vmalloc", "vsize_node"},
	{"__vmalloc", "vmalloc", "vsize_flags"},
	{"vmalloc_noprof", "vmalloc", "vsize"},
	{"vzalloc_noprof", "vmalloc", "vsize"},
	{"vmalloc_node_noprof", "vmalloc", "vsize_node"},
	{"vzalloc_node_noprof", "vmalloc", "vsize_node"},
	{"__vmalloc_noprof", "vmalloc", "vsize_flags"},
	// __get_free_pages(), get_zeroed_page()
	{"__get_free_pages", "pages", "pages"},
	{"get_zeroed_page", "pages", "zpage"},
	{"get_free_pages_noprof", "pages", "pages"},
	{"get_zeroed_page_noprof", "pages", "zpage"},
	// kstrdup(), kstrndup(), kmemdup(), krealloc()
	{"kstrdup", "strings", "strdup"},
	{"kstrndup", "strings", "strndup"},
	{"kmemdup", "strings", "memdup"},
	{"kmemdup_noprof", "strings", "memdup"},
	{"krealloc", "strings", "realloc"},
	{"krealloc_noprof", "strings", "realloc"},
	// the frees
	{"kfree", FamilyFree, "free"},
	{"kvfree", FamilyFree, "free"},
	{"vfree", FamilyFree, "free"},
	{"kfree_sensitive", FamilyFree, "free"},
	{"kmem_cache_free", FamilyFree, "cache_free"},
	{"free_pages", FamilyFree, "free_pages"},
}

// IndicatorVars returns the variables an indicator of a point of family
// can read, in the order the module fills them.
func IndicatorVars(family string) []string {
	args := []string{"size", "flags", "node"}
	if family == FamilyFree {
		args = []string{"ptr"}
	}
	return append(args, "times", "rnd100", "rnd10000", "in_init", "caller")
}

// IndicatorConsts are the constants of the indicator language with
// placeholder values: the module compiles the text again with the
// kernel's own. Validation only needs the names.
func IndicatorConsts() []indicator.Sym {
	cs := make([]indicator.Sym, len(indicator.GFPNames))
	for i, n := range indicator.GFPNames {
		cs[i] = indicator.Sym{Name: n, Value: int64(i + 1)}
	}
	return cs
}

func checkIndicator(expr string, vars []string) error {
	_, err := indicator.Compile(expr, vars, IndicatorConsts())
	return err
}

// PointFamily returns the family of a point name: the family itself, or
// the family of the function it names; "" when it is neither.
func PointFamily(name string) string {
	if slices.Contains(PayloadFamilies, name) {
		return name
	}
	for _, f := range PayloadFuncs {
		if f.Name == name {
			return f.Family
		}
	}
	return ""
}

// reTargetName is a module name as the kernel keeps it (kbuild turns '-'
// into '_').
var reTargetName = regexp.MustCompile(`^[A-Za-z0-9_]+$`)

func init() {
	Register(KindPayload, func() Kind { return &Payload{} })
}

// Default fills attach "before", action "trace", expression "1" and the
// leak check's table sizes.
func (p *Payload) Default(v *Validator) {
	if p.Attach == "" {
		v.NotEmpty("attach", "before")
		p.Attach = "before"
	}
	for i := range p.Points {
		pt := &p.Points[i]
		if pt.Action == "" {
			v.NotEmpty(fmt.Sprintf("points[%d].action", i), ActionTrace)
			pt.Action = ActionTrace
		}
		if pt.Expression == "" && !v.Has(fmt.Sprintf("points[%d].expression", i)) {
			pt.Expression = "1"
		}
	}
	if lc := p.LeakCheck; lc != nil {
		for _, f := range []struct {
			key      string
			val      *int
			def, max int
		}{
			{"leak_check.max_objects", &lc.MaxObjects, DefaultLeakObjects, MaxLeakObjects},
			{"leak_check.max_stacks", &lc.MaxStacks, DefaultLeakStacks, MaxLeakStacks},
			{"leak_check.stack_depth", &lc.StackDepth, DefaultLeakStackDepth, MaxLeakStackDepth},
		} {
			if *f.val == 0 {
				if v.Has(f.key) {
					v.Errorf(f.key, "must be between 1 and %d; got 0 (omit it for the default, %d)", f.max, f.def)
				}
				*f.val = f.def
			}
		}
	}
}

// Validate checks the target, every point (its name, action and
// indicator) and the leak check's sizes.
func (p *Payload) Validate(v *Validator) {
	switch t := p.Target; {
	case t == "":
		v.Errorf("target", "missing; the name of the module whose calls are intercepted (as in lsmod), e.g. brd")
	case len(t) > maxModuleName:
		v.Errorf("target", "%q is %d bytes; a module name has at most %d", t, len(t), maxModuleName)
	case strings.Contains(t, "-") && reTargetName.MatchString(strings.ReplaceAll(t, "-", "_")):
		v.Errorf("target", "%q: write the module name as the kernel does, with _ (%s)", t, strings.ReplaceAll(t, "-", "_"))
	case !reTargetName.MatchString(t):
		v.Errorf("target", "%q is not a module name ([A-Za-z0-9_]+)", t)
	}
	if p.Attach != "before" && p.Attach != "loaded" {
		v.Errorf("attach", "%q: want before (refuse a loaded target, KEDR's rule) or loaded (also attach to a loaded target)", p.Attach)
	}
	if len(p.Points) == 0 && p.LeakCheck == nil {
		v.Errorf("points", "no points and no leak_check: the payload would do nothing; add a point, e.g. {name: kmalloc, action: trace}")
	}
	if len(p.Points) > MaxPayloadPoints {
		v.Errorf("points", "%d points; at most %d", len(p.Points), MaxPayloadPoints)
	}
	owner := map[string]string{} // function -> point
	seen := map[string]int{}
	for i, pt := range p.Points {
		path := fmt.Sprintf("points[%d]", i)
		fam := PointFamily(pt.Name)
		if fam == "" {
			v.Errorf(path+".name", "%q is neither a family (%s) nor one of their functions (e.g. __kmalloc, kfree)", pt.Name, strings.Join(PayloadFamilies, ", "))
			continue
		}
		if j, dup := seen[pt.Name]; dup {
			v.Errorf(path+".name", "%q already a point (points[%d])", pt.Name, j)
			continue
		}
		seen[pt.Name] = i
		for _, f := range PayloadFuncs {
			if f.Name != pt.Name && f.Family != pt.Name {
				continue
			}
			if o, ok := owner[f.Name]; ok && o != pt.Name {
				v.Errorf(path+".name", "%q: %s is already in point %s; a function belongs to one point", pt.Name, f.Name, o)
				break
			}
			owner[f.Name] = pt.Name
		}
		switch pt.Action {
		case ActionTrace, ActionDumpStack, ActionNone:
		case ActionFault:
			if fam == FamilyFree {
				v.Errorf(path+".action", "a free function cannot fail: fault works on allocation points only")
			}
		default:
			v.Errorf(path+".action", "%q: want trace, dump_stack, fault or none", pt.Action)
		}
		if err := checkIndicator(pt.Expression, IndicatorVars(fam)); err != nil {
			v.Errorf(path+".expression", "%v", err)
		}
		if pt.Pid < 0 || pt.Pid > MaxPid {
			v.Errorf(path+".pid", "must be between 0 and %d (0 = any); got %d", MaxPid, pt.Pid)
		}
	}
	if lc := p.LeakCheck; lc != nil {
		for _, f := range []struct {
			key      string
			val, max int
		}{
			{"leak_check.max_objects", lc.MaxObjects, MaxLeakObjects},
			{"leak_check.max_stacks", lc.MaxStacks, MaxLeakStacks},
			{"leak_check.stack_depth", lc.StackDepth, MaxLeakStackDepth},
		} {
			if f.val < 1 || f.val > f.max {
				v.Errorf(f.key, "must be between 1 and %d; got %d", f.max, f.val)
			}
		}
		if n := lc.MaxObjects; n > 0 && n&(n-1) != 0 {
			v.Errorf("leak_check.max_objects", "must be a power of two; got %d", n)
		}
	}
}

func (*Payload) fieldDocs() map[string]fieldDoc {
	var names []string
	names = append(names, PayloadFamilies...)
	for _, f := range PayloadFuncs {
		if !slices.Contains(names, f.Name) {
			names = append(names, f.Name)
		}
	}
	return map[string]fieldDoc{
		"": {Description: "A KEDR-style payload: watches the calls one target module makes to the kernel's allocation and free functions (from its very first instruction when loaded first) and traces them, dumps the stack, simulates failures, or checks for leaks. Only the target's calls are affected."},
		"target": {Description: "The module whose calls are intercepted, as lsmod names it; the module parameter target= overrides it at load.",
			Pattern: `^[A-Za-z0-9_]+$`, MaxLength: maxModuleName},
		"attach": {Description: "before (default): the payload must be loaded before its target and refuses a loaded one (KEDR's rule); loaded: also attach to an already loaded target, from then on.",
			Enum: []string{"before", "loaded"}},
		"points":            {Description: "The families or functions acted on.", MaxItems: MaxPayloadPoints},
		"points.name":       {Description: "A family (kmalloc, kmem_cache, kvmalloc, vmalloc, pages, strings, free) or one of its functions.", Enum: names},
		"points.action":     {Description: "trace (default): an event per selected call; dump_stack: the stack to the kernel log and an event with it; fault: the call fails (NULL) without running; none: count only.", Enum: []string{ActionTrace, ActionDumpStack, ActionFault, ActionNone}},
		"points.expression": {Description: "KEDR indicator (C operators, ?:, = for equality; size, flags, node or ptr, times, rnd100, rnd10000, in_init, caller, GFP_* constants); the call is acted on when non-zero. Default \"1\". Changeable at run time in debugfs kgen/<name>/points/<point>/expression.", MaxLength: indicator.MaxLen},
		"points.pid":        {Description: "Only calls made by this process and its descendants; 0 = any.", Min: intp(0), Max: intp(MaxPid)},
		"leak_check":        {Description: "Track every allocation and free of the target from its load to its unload; report possible leaks grouped by allocation stack."},
		"leak_check.max_objects": {Description: "Live allocations tracked (a power of two, default 65536); more are counted as not tracked.",
			Min: intp(1), Max: intp(MaxLeakObjects)},
		"leak_check.max_stacks":  {Description: "Distinct allocation stacks kept (default 4096).", Min: intp(1), Max: intp(MaxLeakStacks)},
		"leak_check.stack_depth": {Description: "Frames kept per allocation stack (default 16).", Min: intp(1), Max: intp(MaxLeakStackDepth)},
	}
}
