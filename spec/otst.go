package spec

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// KindOtst is the kind name of Otst specs.
const KindOtst = "otst"

// Otst is the spec of a one-time stacktrace module: a /proc file where
// writing a symbol name arms a kprobe that dumps the calling context of
// the symbol's next call(s), then disarms itself.
type Otst struct {
	Meta `yaml:",inline"`
	// Proc is the file's path under /proc: "driver/<leaf>" or "<leaf>";
	// default "driver/<name>".
	Proc string `yaml:"proc,omitempty" json:"proc,omitempty"`
	// Mode is the file's permission bits as an octal string; default
	// "0600". At most 0666: arming still needs CAP_SYS_ADMIN.
	Mode string `yaml:"mode,omitempty" json:"mode,omitempty"`
	// Symbols are armed at load; also the module parameter "symbols".
	Symbols []string `yaml:"symbols,omitempty" json:"symbols,omitempty"`
	// Shots is the number of traces per arming; default 1.
	Shots int `yaml:"shots,omitempty" json:"shots,omitempty"`
	// MaxSymbols bounds the symbols armed at once; default 64.
	MaxSymbols int `yaml:"max_symbols,omitempty" json:"max_symbols,omitempty"`
	// RawAddresses logs the probed address raw (%px), as the original
	// did; default false: hashed (%p). Also the module parameter
	// raw_addresses.
	RawAddresses bool `yaml:"raw_addresses,omitempty" json:"raw_addresses,omitempty"`

	// ModeBits is Mode parsed, set by Validate.
	ModeBits int `yaml:"-" json:"-"`
}

// Limits and defaults of the otst kind.
const (
	DefaultOtstShots      = 1
	DefaultOtstMaxSymbols = 64
	DefaultOtstMode       = "0600"
	// MaxOtstShots bounds the console output of one arming: each shot
	// prints a stack dump (some 30 lines) from the probe's atomic context,
	// and on a serial console 10000 of them take minutes to print.
	MaxOtstShots      = 100
	MaxOtstMaxSymbols = 1024
	MaxOtstProcLeaf   = 64
	// MaxOtstSymbol is KSYM_NAME_LEN-1 of the oldest kernels (128); newer
	// kernels accept up to 511 bytes at run time.
	MaxOtstSymbol = 127
)

var (
	// reOtstSymbol is what the module itself accepts at run time: a
	// kernel symbol, optionally "module:symbol" (module names may start
	// with a digit, as 8021q does).
	reOtstSymbol = regexp.MustCompile(`^([A-Za-z0-9_]+:)?[A-Za-z_.][A-Za-z0-9_.]*$`)
	reOtstProc   = regexp.MustCompile(`^(driver/)?[a-z0-9_][a-z0-9_.-]*$`)
	reOtstMode   = regexp.MustCompile(`^0?[0-7]{3}$`)
)

// otstReservedProc are top-level /proc names a module must not take: the
// kernel warns ("already registered") when two entries collide.
var otstReservedProc = strings.Fields(`acpi asound buddyinfo bus cgroups cmdline consoles cpuinfo crypto
	devices diskstats dma driver execdomains fb filesystems fs interrupts iomem ioports irq kallsyms
	kcore key-users keys kmsg kpagecgroup kpagecount kpageflags latency_stats loadavg locks mdstat
	meminfo misc modules mounts mtrr net pagetypeinfo partitions pressure schedstat scsi self
	slabinfo softirqs stat swaps sys sysrq-trigger sysvipc thread-self timer_list tty uptime version
	vmallocinfo vmstat zoneinfo bootconfig config.gz dynamic_debug`)

func init() {
	Register(KindOtst, func() Kind { return &Otst{} })
}

// Default fills proc, mode, shots and max_symbols. An explicit "" for
// proc or mode, or 0 for shots or max_symbols, is an error, not a
// request for the default.
func (o *Otst) Default(v *Validator) {
	if o.Proc == "" {
		v.NotEmpty("proc", "driver/<name>")
		if o.Name != "" {
			o.Proc = "driver/" + o.Name
		}
	}
	if o.Mode == "" {
		v.NotEmpty("mode", DefaultOtstMode)
		o.Mode = DefaultOtstMode
	}
	if o.Shots == 0 {
		if v.Has("shots") {
			v.Errorf("shots", "must be between 1 and %d; got 0 (omit it for the default, %d)", MaxOtstShots, DefaultOtstShots)
		}
		o.Shots = DefaultOtstShots
	}
	if o.MaxSymbols == 0 {
		if v.Has("max_symbols") {
			v.Errorf("max_symbols", "must be between 1 and %d; got 0 (omit it for the default, %d)", MaxOtstMaxSymbols, DefaultOtstMaxSymbols)
		}
		o.MaxSymbols = DefaultOtstMaxSymbols
	}
}

// Validate checks the proc path, mode, bounds and every symbol.
func (o *Otst) Validate(v *Validator) {
	leaf := strings.TrimPrefix(o.Proc, "driver/")
	switch {
	case !reOtstProc.MatchString(o.Proc):
		v.Errorf("proc", "%q must be driver/<file> or <file>, with <file> matching [a-z0-9_][a-z0-9_.-]*", o.Proc)
	case len(leaf) > MaxOtstProcLeaf:
		v.Errorf("proc", "file name %q is %d characters; at most %d", leaf, len(leaf), MaxOtstProcLeaf)
	case !strings.Contains(o.Proc, "/") && slices.Contains(otstReservedProc, o.Proc):
		v.Errorf("proc", "/proc/%s belongs to the kernel; use driver/%s or another name", o.Proc, o.Proc)
	case badOtstProc(v, o.Proc):
	}
	o.ModeBits = -1
	if !reOtstMode.MatchString(o.Mode) {
		v.Errorf("mode", "%q must be an octal mode like \"0600\"", o.Mode)
	} else if m, _ := strconv.ParseInt(o.Mode, 8, 32); m&^0o666 != 0 {
		v.Errorf("mode", "%q sets execute or special bits; at most \"0666\"", o.Mode)
	} else if badOtstMode(v, o.Mode, m) {
	} else {
		o.ModeBits = int(m)
	}
	if o.Shots < 1 || o.Shots > MaxOtstShots {
		v.Errorf("shots", "must be between 1 and %d; got %d", MaxOtstShots, o.Shots)
	}
	if o.MaxSymbols < 1 || o.MaxSymbols > MaxOtstMaxSymbols {
		v.Errorf("max_symbols", "must be between 1 and %d; got %d", MaxOtstMaxSymbols, o.MaxSymbols)
	} else if len(o.Symbols) > o.MaxSymbols {
		v.Errorf("symbols", "%d symbols; at most max_symbols (%d)", len(o.Symbols), o.MaxSymbols)
	}
	seen := map[string]int{}
	for i, s := range o.Symbols {
		p := fmt.Sprintf("symbols[%d]", i)
		switch {
		case s == "":
			v.Errorf(p, "empty; a kernel function name, e.g. netif_rx")
		case len(s) > MaxOtstSymbol:
			v.Errorf(p, "%d characters; at most %d", len(s), MaxOtstSymbol)
		case !reOtstSymbol.MatchString(s):
			v.Errorf(p, "%q must be a kernel symbol ([A-Za-z_.][A-Za-z0-9_.]*, optionally after module:)", s)
		default:
			if j, dup := seen[s]; dup {
				v.Errorf(p, "%q already listed as symbols[%d]", s, j)
			} else {
				seen[s] = i
			}
		}
	}
}

func (*Otst) fieldDocs() map[string]fieldDoc {
	return map[string]fieldDoc{
		"": {Description: "A one-time stacktrace module: writing a symbol to its /proc file arms a kprobe that dumps the calling context of the symbol's next call(s) to the kernel log and a trace event, then disarms itself."},
		"proc": {Description: "The file's path under /proc: driver/<file> or <file> (default driver/<name>).",
			Pattern: reOtstProc.String()},
		"mode": {Description: "The file's permission bits, octal, at most \"0666\" (default \"0600\"); arming needs CAP_SYS_ADMIN regardless.",
			Pattern: reOtstMode.String()},
		"symbols": {Description: "Symbols armed at load; also the module parameter symbols.", MaxItems: MaxOtstMaxSymbols},
		"shots":   {Description: "Traces per arming (default 1: one-time).", Min: intp(1), Max: intp(MaxOtstShots)},
		"max_symbols": {Description: "Symbols armed at once, at most (default 64).",
			Min: intp(1), Max: intp(MaxOtstMaxSymbols)},
		"raw_addresses": {Description: "Log the probed address raw (%px), as the original otst did, instead of hashed (%p); raw kernel addresses in the log defeat KASLR for whoever can read it (default false). Also the module parameter raw_addresses."},
	}
}
