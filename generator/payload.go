package generator

import (
	"fmt"
	"slices"
	"strings"

	"kgen/indicator"
	"kgen/spec"
)

func init() { Register(spec.KindPayload, payloadKind{}) }

// payloadKind generates a KEDR-style payload from a spec.Payload: one
// ftrace_ops (IPMODIFY) per candidate kernel function, whose callback
// redirects the target's calls (and only those) to a wrapper with the
// function's signature; the wrapper evaluates the point's indicator, acts,
// and records the call for the leak check. Which candidates exist is
// decided per kernel by two feature probes each: HAVE_PL_<ID> (the
// signature, out of line) and HAVE_PL_<NAME>_SYM (exported).
type payloadKind struct{}

type payloadData struct {
	Header
	Target       string // C string literal of a validated module name
	AttachLoaded bool
	Points       []plPoint
	Funcs        []plFunc
	Leak         bool
	LeakBits     int // log2(max_objects)
	MaxObjects   int
	MaxStacks    int
	StackDepth   int
	Consts       []string // GFP_* names: kernel macros of that name
	AllocVars    []string // indicator variables of an allocation point
	FreeVars     []string // of a free point
	Stack        bool     // some point dumps the stack into its event
}

// plPoint is one point of the spec.
type plPoint struct {
	Index  int
	Path   string // spec path, for the C comment
	Name   string // validated: a family or function name ([a-z_0-9]+)
	Action string // trace, dump_stack, fault, none
	Expr   string // C string literal of the validated indicator text
	Pid    int
	Free   bool // a free point: its variable is ptr
	Stack  bool // dump_stack: the event carries the stack
}

// plFunc is one candidate function.
type plFunc struct {
	ID      string // C identifier: the name, _b for the bucket variant
	Name    string // the kernel function
	Feature string // HAVE_PL_<ID>: the signature probe
	Sym     string // HAVE_PL_<NAME>_SYM: the export probe
	Point   int    // index into Points, or -1 (leak check only)
	Sig     plSig
}

// plSig is the C of one signature shape.
type plSig struct {
	Ret    string // return type
	Params string // parameter list with names
	Args   string // the call's arguments
	Size   string // C expression of the size (alloc), or "" for frees
	Flags  string
	Node   string
	Ptr    string // the freed pointer (free), the old pointer (realloc)
	Free   bool
	Arg    int // the freed pointer's argument index (free)
	Pages  bool
	Real   bool // realloc: frees Ptr when it returns another object
}

var plSigs = map[string]plSig{
	"size_flags":             {Ret: "void *", Params: "size_t size, gfp_t flags", Args: "size, flags", Size: "size", Flags: "flags", Node: "NUMA_NO_NODE"},
	"size_flags_node":        {Ret: "void *", Params: "size_t size, gfp_t flags, int node", Args: "size, flags, node", Size: "size", Flags: "flags", Node: "node"},
	"size_bucket_flags_node": {Ret: "void *", Params: "size_t size, kmem_buckets *b, gfp_t flags, int node", Args: "size, b, flags, node", Size: "size", Flags: "flags", Node: "node"},
	"size_flags_order":       {Ret: "void *", Params: "size_t size, gfp_t flags, unsigned int order", Args: "size, flags, order", Size: "size", Flags: "flags", Node: "NUMA_NO_NODE"},
	"cache_flags_size":       {Ret: "void *", Params: "struct kmem_cache *s, gfp_t flags, size_t size", Args: "s, flags, size", Size: "size", Flags: "flags", Node: "NUMA_NO_NODE"},
	"cache_flags_node_size":  {Ret: "void *", Params: "struct kmem_cache *s, gfp_t flags, int node, size_t size", Args: "s, flags, node, size", Size: "size", Flags: "flags", Node: "node"},
	"cache_flags":            {Ret: "void *", Params: "struct kmem_cache *s, gfp_t flags", Args: "s, flags", Size: "kmem_cache_size(s)", Flags: "flags", Node: "NUMA_NO_NODE"},
	"cache_flags_node":       {Ret: "void *", Params: "struct kmem_cache *s, gfp_t flags, int node", Args: "s, flags, node", Size: "kmem_cache_size(s)", Flags: "flags", Node: "node"},
	"cache_lru_flags":        {Ret: "void *", Params: "struct kmem_cache *s, struct list_lru *lru, gfp_t flags", Args: "s, lru, flags", Size: "kmem_cache_size(s)", Flags: "flags", Node: "NUMA_NO_NODE"},
	"vsize":                  {Ret: "void *", Params: "unsigned long size", Args: "size", Size: "size", Flags: "GFP_KERNEL", Node: "NUMA_NO_NODE"},
	"vsize_node":             {Ret: "void *", Params: "unsigned long size, int node", Args: "size, node", Size: "size", Flags: "GFP_KERNEL", Node: "node"},
	"vsize_flags":            {Ret: "void *", Params: "unsigned long size, gfp_t flags", Args: "size, flags", Size: "size", Flags: "flags", Node: "NUMA_NO_NODE"},
	"pages":                  {Ret: "unsigned long", Params: "gfp_t flags, unsigned int order", Args: "flags, order", Size: "PAGE_SIZE << order", Flags: "flags", Node: "NUMA_NO_NODE", Pages: true},
	"zpage":                  {Ret: "unsigned long", Params: "gfp_t flags", Args: "flags", Size: "PAGE_SIZE", Flags: "flags", Node: "NUMA_NO_NODE", Pages: true},
	"strdup":                 {Ret: "char *", Params: "const char *s, gfp_t flags", Args: "s, flags", Size: "(s ? strlen(s) + 1 : 0)", Flags: "flags", Node: "NUMA_NO_NODE"},
	"strndup":                {Ret: "char *", Params: "const char *s, size_t max, gfp_t flags", Args: "s, max, flags", Size: "(s ? strnlen(s, max) + 1 : 0)", Flags: "flags", Node: "NUMA_NO_NODE"},
	"memdup":                 {Ret: "void *", Params: "const void *src, size_t len, gfp_t flags", Args: "src, len, flags", Size: "len", Flags: "flags", Node: "NUMA_NO_NODE"},
	"realloc":                {Ret: "void *", Params: "const void *p, size_t new_size, gfp_t flags", Args: "p, new_size, flags", Size: "new_size", Flags: "flags", Node: "NUMA_NO_NODE", Ptr: "p", Real: true},
	"free":                   {Ret: "void", Params: "const void *p", Args: "p", Ptr: "p", Free: true, Arg: 0},
	"cache_free":             {Ret: "void", Params: "struct kmem_cache *s, void *p", Args: "s, p", Ptr: "p", Free: true, Arg: 1},
	"free_pages":             {Ret: "void", Params: "unsigned long addr, unsigned int order", Args: "addr, order", Ptr: "addr", Free: true, Arg: 0},
}

// plFuncID is the C identifier of a candidate: its name, with _b for the
// variant that takes 6.12's bucket argument.
func plFuncID(f spec.PayloadFunc) string {
	if strings.Contains(f.Sig, "bucket") {
		return f.Name + "_b"
	}
	return f.Name
}

// plProbes returns the feature probes of a candidate: the signature probe
// (.c) and the export probe (.sym), by feature name.
func plProbes(f spec.PayloadFunc) (sigName string, sigSrc []byte, symName string, symSrc []byte, err error) {
	s, ok := plSigs[f.Sig]
	if !ok {
		return "", nil, "", nil, fmt.Errorf("payload function %s: unknown signature %q", f.Name, f.Sig)
	}
	sigName = "HAVE_PL_" + strings.ToUpper(plFuncID(f))
	symName = "HAVE_PL_" + strings.ToUpper(f.Name) + "_SYM"
	ret := s.Ret
	if !strings.HasSuffix(ret, "*") {
		ret += " "
	}
	sigSrc = fmt.Appendf(nil, `// SPDX-License-Identifier: GPL-2.0
/*
 * kgen feature probe (payload): %s(%s) out of line with this signature.
 * Taking its address fails where it is undeclared; the redeclaration fails
 * where it has another signature. A static inline of that name passes:
 * the .sym probe %s decides that.
 */
#include <linux/gfp.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/vmalloc.h>

static %s(*kgen_probe)(%s) __maybe_unused = %s;
%s%s(%s);
`, f.Name, s.Params, symName, ret, s.Params, f.Name, ret, f.Name, s.Params)
	symSrc = fmt.Appendf(nil, "# kgen feature probe (payload): %s is exported\n%s\n", f.Name, f.Name)
	return sigName, sigSrc, symName, symSrc, nil
}

func (payloadKind) Module(s spec.Spec, h Header) (Module, error) {
	p, ok := s.(*spec.Payload)
	if !ok {
		return Module{}, fmt.Errorf("payload generator given %T", s)
	}
	if p.Attach == "" || !isModName(p.Target) {
		return Module{}, fmt.Errorf("payload spec %s not validated", p.Name)
	}
	d := payloadData{
		Header:       h,
		Target:       CString(p.Target),
		AttachLoaded: p.Attach == "loaded",
		Consts:       indicator.GFPNames,
		AllocVars:    spec.IndicatorVars("kmalloc"),
		FreeVars:     spec.IndicatorVars(spec.FamilyFree),
	}
	if lc := p.LeakCheck; lc != nil {
		if lc.MaxObjects < 1 || lc.MaxObjects&(lc.MaxObjects-1) != 0 || lc.MaxStacks < 1 || lc.StackDepth < 1 {
			return Module{}, fmt.Errorf("payload spec %s: leak_check not defaulted", p.Name)
		}
		d.Leak = true
		d.MaxObjects, d.MaxStacks, d.StackDepth = lc.MaxObjects, lc.MaxStacks, lc.StackDepth
		for 1<<d.LeakBits < lc.MaxObjects {
			d.LeakBits++
		}
	}
	owner := map[string]int{}
	for i, pt := range p.Points {
		fam := spec.PointFamily(pt.Name)
		if fam == "" || !isIdent(pt.Name) {
			return Module{}, fmt.Errorf("points[%d]: %q not validated", i, pt.Name)
		}
		if !slices.Contains([]string{spec.ActionTrace, spec.ActionDumpStack, spec.ActionFault, spec.ActionNone}, pt.Action) {
			return Module{}, fmt.Errorf("points[%d]: action %q not validated", i, pt.Action)
		}
		d.Points = append(d.Points, plPoint{
			Index:  i,
			Path:   fmt.Sprintf("points[%d]", i),
			Name:   pt.Name,
			Action: pt.Action,
			Expr:   CString(pt.Expression),
			Pid:    pt.Pid,
			Free:   fam == spec.FamilyFree,
			Stack:  pt.Action == spec.ActionDumpStack,
		})
		if pt.Action == spec.ActionDumpStack {
			d.Stack = true
		}
		for _, f := range spec.PayloadFuncs {
			if f.Name == pt.Name || f.Family == pt.Name {
				owner[f.Name] = i
			}
		}
	}
	for _, f := range spec.PayloadFuncs {
		pi, inPoint := owner[f.Name]
		if !inPoint && !d.Leak {
			continue
		}
		if !inPoint {
			pi = -1
		}
		sig, sigSrc, sym, _, err := plProbes(f)
		if err != nil || sigSrc == nil {
			return Module{}, err
		}
		d.Funcs = append(d.Funcs, plFunc{
			ID: plFuncID(f), Name: f.Name, Feature: sig, Sym: sym, Point: pi, Sig: plSigs[f.Sig],
		})
	}
	return Module{Data: d, Runtime: Runtime{Stack: true}}, nil
}

// isModName re-checks a module name that reaches a C string.
func isModName(s string) bool {
	if s == "" || len(s) > 55 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// isIdent re-checks a name that reaches the C source in an identifier.
func isIdent(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
