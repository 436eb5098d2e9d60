package generator

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"kgen/spec"
)

// updating reports -update, which the external test package defines.
func updating() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// TestPayloadProbes checks that templates/features holds the two probes of
// every payload candidate function exactly as plProbes writes them
// (go test ./generator -run TestPayloadProbes -update rewrites them), and
// no stale one.
func TestPayloadProbes(t *testing.T) {
	dir := filepath.Join("..", "templates", "features")
	want := map[string][]byte{}
	for _, f := range spec.PayloadFuncs {
		sig, sigSrc, sym, symSrc, err := plProbes(f)
		if err != nil {
			t.Fatal(err)
		}
		want[sig+".c"] = sigSrc
		want[sym+".sym"] = symSrc
	}
	for name, b := range want {
		p := filepath.Join(dir, name)
		if updating() {
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(p)
		if err != nil || !bytes.Equal(got, b) {
			t.Errorf("%s differs from what plProbes writes (run go test ./generator -run TestPayloadProbes -update): %v", p, err)
		}
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "HAVE_PL_") && want[e.Name()] == nil {
			t.Errorf("%s: no payload function has this probe; delete it", e.Name())
		}
	}
}

// TestPayloadSigs: every candidate's signature shape has its C.
func TestPayloadSigs(t *testing.T) {
	for _, f := range spec.PayloadFuncs {
		s, ok := plSigs[f.Sig]
		if !ok {
			t.Errorf("%s: no C for signature %q", f.Name, f.Sig)
			continue
		}
		if s.Free != (f.Family == spec.FamilyFree) {
			t.Errorf("%s: family %s but signature %s free=%v", f.Name, f.Family, f.Sig, s.Free)
		}
	}
	// The module fills the indicator variables in this order.
	if got := strings.Join(spec.IndicatorVars("kmalloc"), ","); got != "size,flags,node,times,rnd100,rnd10000,in_init,caller" {
		t.Errorf("alloc variables %s: the template's pl_indicator fills another order", got)
	}
	if got := strings.Join(spec.IndicatorVars(spec.FamilyFree), ","); got != "ptr,times,rnd100,rnd10000,in_init,caller" {
		t.Errorf("free variables %s: the template's pl_indicator fills another order", got)
	}
}
