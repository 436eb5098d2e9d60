package spec

import (
	"reflect"
	"testing"
)

func TestProbedFunctions(t *testing.T) {
	for _, c := range []struct {
		s    Spec
		want []string
	}{
		{&Kretprobe{Probes: []KretprobeFunc{{Function: "vfs_read"}, {Function: "foo.isra.0"}}}, []string{"vfs_read", "foo.isra.0"}},
		{&Otst{Symbols: []string{"ksys_sync", "mymod:helper", "do_nanosleep"}}, []string{"ksys_sync", "do_nanosleep"}},
		{&Otst{}, nil},
	} {
		p, ok := c.s.(Prober)
		if !ok {
			t.Fatalf("%T is not a Prober", c.s)
		}
		if got := p.ProbedFunctions(); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%T.ProbedFunctions() = %q, want %q", c.s, got, c.want)
		}
	}
}
