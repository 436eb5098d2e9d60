package main

import (
	"fmt"

	"kgen/doctor"
	"kgen/kbuild"
	"kgen/probepoint"
	"kgen/spec"
)

// probeWarnings checks the functions a spec probes against the target's
// symbols when kgen build knows them: --kernel or --system-map, else the
// running kernel when kdir is its build dir. Unknown symbols give no
// warning (and no error: the build decides).
func probeWarnings(s spec.Spec, kdir, vmlinux, sysmap string) []string {
	p, ok := s.(spec.Prober)
	if !ok || len(p.ProbedFunctions()) == 0 {
		return nil
	}
	var t *probepoint.Table
	var err error
	switch {
	case vmlinux != "" || sysmap != "":
		if vmlinux != "" && sysmap != "" {
			return []string{"give --kernel or --system-map, not both: probed functions not checked"}
		}
		t, err = probepoint.LoadFile(vmlinux + sysmap)
		if err != nil {
			return []string{fmt.Sprintf("probed functions not checked: %v", err)}
		}
	default:
		info, err := kbuild.InspectKDIR(kdir, "", "")
		if err != nil || info.Release != doctor.RunningRelease() {
			return nil
		}
		if t, err = probepoint.Running("/"); err != nil {
			return nil
		}
	}
	var out []string
	for _, pr := range t.Problems(p.ProbedFunctions()) {
		out = append(out, pr+" ("+t.Source+")")
	}
	return out
}
