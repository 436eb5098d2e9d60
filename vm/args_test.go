package vm

import (
	"strings"
	"testing"
)

// TestQemuAccel checks which accelerator each configuration asks for: SMP
// under TCG is single-threaded unless MTTCG is set (see Config.MTTCG).
func TestQemuAccel(t *testing.T) {
	for _, tt := range []struct {
		name string
		c    Config
		kvm  bool
		want string
	}{
		{"one CPU, TCG", Config{SMP: 1}, false, "-accel tcg -cpu max"},
		{"SMP, TCG: single-threaded", Config{SMP: 2}, false, "-accel tcg,thread=single -cpu max"},
		{"SMP, TCG, MTTCG asked for", Config{SMP: 2, MTTCG: true}, false, "-accel tcg -cpu max"},
		{"SMP, KVM", Config{SMP: 2}, true, "-accel kvm -cpu host"},
		{"icount", Config{SMP: 1, Icount: true}, false, "-accel tcg -cpu max -icount shift=0 -seed 1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := strings.Join(qemuArgs(tt.c, arches["x86_64"], "initrd", tt.kvm), " ")
			if !strings.Contains(got, tt.want) {
				t.Errorf("qemu args %q lack %q", got, tt.want)
			}
		})
	}
}
