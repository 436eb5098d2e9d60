package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// arm64Hits is the reads per run on the arm64 kernel. Its 14 runs took
// 109 s of host time at 50,000 reads (qemu-system-aarch64 --icount ran
// about 33 million guest instructions a second here); 200,000 would make
// them 7 minutes. Guest time counts instructions exactly, so a quarter of
// the reads gives the same figure per hit: the two baselines drifted by
// 0.34 instructions per read.
const arm64Hits = 50000

// bootFile is what kgen vm boots for the kernel in dir: its vmlinux, or
// an arm64 kernel's Image (Debian ships no arm64 vmlinux outside -dbg).
func bootFile(dir string) string {
	v := filepath.Join(dir, "vmlinux")
	if _, err := os.Stat(v); err != nil {
		if _, err := os.Stat(filepath.Join(dir, "Image")); err == nil {
			return filepath.Join(dir, "Image")
		}
	}
	return v
}

// arm64Missing says why the arm64 kernel cannot be measured on this host,
// or "" when it can: the fetched kernel (headers, Image, busybox), its
// cross compiler and qemu-system-aarch64.
func arm64Missing(kernels, name string) string {
	dir := filepath.Join(kernels, name)
	for _, f := range []string{"kdir", "Image", "busybox", "make.env"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			return fmt.Sprintf("no %s (fetch it with scripts/fetch-kernels.sh %s)", filepath.Join(dir, f), name)
		}
	}
	env, _ := os.ReadFile(filepath.Join(dir, "make.env"))
	cross := ""
	for _, f := range strings.Fields(string(env)) {
		if v, ok := strings.CutPrefix(f, "CROSS_COMPILE="); ok {
			cross = v
		}
	}
	for _, tool := range []string{cross + "gcc", "qemu-system-aarch64"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Sprintf("no %s (install it with scripts/install-deps.sh --arm64)", tool)
		}
	}
	return ""
}

// buildGuestKgen cross-builds kgen for the guest's architecture into the
// work dir (kgen vm's /bin/kgen).
func (b *bench) buildGuestKgen(goarch string) (string, error) {
	out := filepath.Join(b.work, "kgen-"+goarch)
	b.step("building kgen for %s (the guest's /bin/kgen)", goarch)
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, "./cmd/kgen")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goarch)
	if o, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build kgen for %s: %w; run bench from the repository root\n%s", goarch, err, o)
	}
	return out, nil
}

// measureArm64 measures the probe costs on o.arm64 and prints its table,
// or says why it cannot (skip): an error when the arm64 part alone was
// asked for, else a line on log and the kernel's column left out.
func measureArm64(o options, stdout, log io.Writer) (arm *report, skip string, err error) {
	if skip = arm64Missing(o.kernels, o.arm64); skip != "" {
		if o.only == "arm64" {
			return nil, "", fmt.Errorf("measure %s: %s", o.arm64, skip)
		}
		fmt.Fprintf(log, "bench: skipping the %s column: %s\n", o.arm64, skip)
		return nil, skip, nil
	}
	b, err := newBench(o, o.arm64, log)
	if err != nil {
		return nil, "", err
	}
	defer b.cleanup()
	g, err := b.probeCost(arm64Hits, false)
	if err != nil {
		return nil, "", err
	}
	arm = evaluateArm64(g)
	arm.printArm64(stdout, o.arm64, b.release)
	return arm, "", nil
}

// evaluateArm64 validates the arm64 boot's probe-cost runs as the main
// kernel's are validated (timer, both baselines, drift, every probe's
// counters), for runs of arm64Hits reads.
func evaluateArm64(g guest) *report {
	r := &report{}
	evaluateProbes(g, r, arm64Hits)
	return r
}

// printArm64 prints the arm64 kernel's probe-cost rows.
func (r *report) printArm64(w io.Writer, kernel, release string) {
	fmt.Fprintf(w, "\n## kgen bench: %s (%s), probe costs\n\n", kernel, release)
	fmt.Fprintf(w, "One `kgen vm --icount` boot of qemu-system-aarch64 (1 instruction = 1 ns), workload "+
		"`dd if=/dev/zero of=/dev/null bs=1 count=%d` (%d vfs_read hits per run: a quarter of the main kernel's, "+
		"as qemu-system-aarch64 is slower); the same configurations, targets and checks as the main kernel's.\n\n", arm64Hits, arm64Hits)
	fmt.Fprintln(w, "| measurement | value | target | ratio | status |")
	fmt.Fprintln(w, "|---|---|---|---|---|")
	for _, x := range r.rows {
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", x.label, x.value, x.target, x.ratio, x.status)
	}
	if len(r.why) > 0 {
		fmt.Fprintln(w, "\nInvalid figures:")
		for _, y := range r.why {
			fmt.Fprintf(w, "- %s\n", y)
		}
	}
}

// printColumns prints the probe costs side by side, one column per
// kernel measured: main (nil when not run) and the arm64 kernel (nil when
// skipped, with skip saying why, or not run).
func printColumns(w io.Writer, mainName string, main *report, armName string, arm *report, skip string) {
	type col struct {
		name string
		r    *report
	}
	var cols []col
	if main != nil {
		cols = append(cols, col{mainName, main})
	}
	if arm != nil {
		cols = append(cols, col{armName, arm})
	}
	if len(cols) == 0 && skip == "" {
		return
	}
	fmt.Fprintf(w, "\n## Probe costs by kernel (extra instructions per vfs_read hit)\n\n")
	if skip != "" {
		fmt.Fprintf(w, "%s: not measured: %s.\n\n", armName, skip)
	}
	if len(cols) == 0 {
		return
	}
	fmt.Fprint(w, "| configuration |")
	for _, c := range cols {
		fmt.Fprintf(w, " %s |", c.name)
	}
	fmt.Fprint(w, "\n|---|")
	for range cols {
		fmt.Fprint(w, "---|")
	}
	fmt.Fprintln(w)
	for _, cf := range configs {
		fmt.Fprintf(w, "| %s |", cf.label)
		for _, c := range cols {
			v, ok := c.r.extra[cf.key]
			switch {
			case !ok || !c.r.probes:
				fmt.Fprint(w, " invalid |")
			case strings.HasPrefix(cf.key, "otst"):
				fmt.Fprintf(w, " %.1f |", v)
			default:
				fmt.Fprintf(w, " %.0f |", v)
			}
		}
		fmt.Fprintln(w)
	}
}
