package spec

import (
	"regexp"
	"strconv"
	"strings"
)

// Names a spec may not use because they clash, after generation, with C,
// the kernel's headers, the compiler's predefined macros or tracefs. They
// would only break the build (or worse, the load) otherwise.

// cMacroWords are lowercase object-like macros in scope in every kernel C
// file (compiler_attributes.h, compiler_types.h, linkage.h) and GCC's
// GNU-mode predefines (-std=gnu11 defines linux, unix and i386 as 1): a
// field so named expands to something else in the generated struct.
var cMacroWords = strings.Fields(`fallthrough noinline noinline_for_stack notrace noinstr asmlinkage
	linux unix i386 inline`)

// badFieldName reports a field name the generated C cannot carry: one
// starting with "__" (reserved to the implementation, and the kernel's
// annotations: __user, __init, __asm__) or one of cMacroWords. It reports
// on v and returns true if so.
func badFieldName(v *Validator, path, name string) bool {
	switch {
	case strings.HasPrefix(name, "__"):
		v.Errorf(path, "%q starts with __, which C reserves for the compiler and the kernel (__user, __init, __asm__); choose another name", name)
	case containsWord(cMacroWords, name):
		v.Errorf(path, "%q is a macro in every kernel C file (%s); choose another name", name, strings.Join(cMacroWords, ", "))
	default:
		return false
	}
	return true
}

// traceSystems are the kernel's own trace event systems (events/<system>
// in tracefs, 5.10 to 6.12) and the files beside them. A module's events
// live in events/<module name>: a module named after a kernel system would
// share its directory, and kgen load would enable every event there.
var traceSystems = strings.Fields(`alarmtimer avc block bpf_test_run bpf_trace bridge btrfs cgroup
	clk compaction context_tracking cpuhp csd devfreq devlink dma dma_fence drm error_report
	exceptions ext4 fib fib6 filelock filemap fs_dax ftrace gpio handshake huge_memory hwmon i2c
	initcall intel_iommu io_uring iocost iomap iommu ipi irq irq_matrix irq_vectors jbd2 kmem kvm
	kvmmmu kyber libata maple_tree mce mdio migrate mmap mmap_lock mmc module msr napi neigh net
	netlink nmi notifier oom osnoise page_isolation page_pool pagemap percpu power printk pwm qdisc
	ras raw_syscalls rcu regmap regulator rpm rseq rtc sched scsi signal skb smbus sock spi swiotlb
	sync_trace syscalls task tcp thermal thp timer timer_migration tlb udp vmalloc vmscan vsyscall
	wbt workqueue writeback x86_fpu xdp xen xfs
	enable filter header_event header_page`)

// moduleWords are module names kgen keeps for itself: the generated C
// names its statics after the kind (krp_, otst_) and the runtime (kgen_),
// never after the module, so only the runtime's prefix is left to clash
// with the event names <module>_<id>.
var moduleWords = strings.Fields(`kgen`)

// badModuleName reports a module name that clashes with the kernel's trace
// systems or with names the generated C uses; true if so.
func badModuleName(v *Validator, name string) bool {
	switch {
	case containsWord(moduleWords, name):
		v.Errorf("name", "%q is kgen's own prefix (its runtime's C names start with %s_); choose another name", name, name)
	case containsWord(traceSystems, name):
		v.Errorf("name", "%q is a kernel trace event system (tracefs events/%s): the module's events would share its directory; choose another name", name, name)
	default:
		return false
	}
	return true
}

// tracepointSuffixes are what the kernel's tracepoint macros append to an
// event's name to make other names: trace_<event>_enabled(),
// trace_<event>_rcuidle().
var tracepointSuffixes = []string{"_enabled", "_rcuidle"}

// badProbeIDs reports probe ids that clash once the tracepoint macros
// suffix them: probes a and a_enabled both define trace_<m>_a_enabled.
// ids[i] is the id of the probe at paths[i]; "" ids are skipped.
func badProbeIDs(v *Validator, ids, paths []string) {
	at := map[string]int{}
	for i, id := range ids {
		if id != "" {
			at[id] = i
		}
	}
	for i, id := range ids {
		for _, sfx := range tracepointSuffixes {
			if j, ok := at[id+sfx]; ok && id != "" {
				v.Errorf(paths[j], "probe id %q clashes with probe id %q (%s): the kernel's tracepoint macros name a function after %s's event plus %q, which is %s's event's own name; probe one of them", ids[j], id, paths[i], id, sfx, ids[j])
			}
		}
	}
}

// badOtstMode reports a /proc file mode the owner cannot read and write:
// proc_create turns mode 0 into 0444 (world-readable), and root arms and
// reads the list through it.
func badOtstMode(v *Validator, mode string, bits int64) bool {
	if bits&0o600 == 0o600 {
		return false
	}
	v.Errorf("mode", "%q: the owner (root) needs read and write, as in \"0600\": root arms and lists through the file, and proc_create turns mode 0 into a world-readable 0444", mode)
	return true
}

var reDigits = regexp.MustCompile(`^[0-9]+$`)

// badOtstProc reports a top-level /proc name of digits only: once a
// process takes that PID, /proc/<pid> hides the file.
func badOtstProc(v *Validator, proc string) bool {
	if !reDigits.MatchString(proc) {
		return false
	}
	v.Errorf("proc", "%q is all digits: /proc/%s is a process's directory once that PID exists; use driver/%s or a name with a letter", proc, proc, proc)
	return true
}

func containsWord(words []string, w string) bool {
	for _, x := range words {
		if x == w {
			return true
		}
	}
	return false
}

// validateProbeIDs runs badProbeIDs over a kretprobe spec's probes.
func validateProbeIDs(v *Validator, ps []KretprobeFunc) {
	ids := make([]string, len(ps))
	paths := make([]string, len(ps))
	for i, p := range ps {
		ids[i], paths[i] = p.ID, "probes["+strconv.Itoa(i)+"].function"
	}
	badProbeIDs(v, ids, paths)
}
