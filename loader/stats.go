package loader

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

const retryDelay = 100 * time.Millisecond

// Counter is one named counter of a probe.
type Counter struct {
	Name  string
	Value uint64
}

// ProbeStats are the counters of one probe, in file order.
type ProbeStats struct {
	Probe    string
	Counters []Counter
}

// Stats are a module's counters from debugfs kgen/<name>/stats, its
// histograms (kgen/<name>/hist_<id>, verbatim) and its reports: the files
// under kgen/<name>/leaks/ (a payload's leak check), verbatim.
type Stats struct {
	Probes  []ProbeStats
	Hists   map[string]string // probe id -> histogram text
	Reports map[string]string // path under kgen/<name>/ -> text
	// Stacks is kgen/<name>/stacks verbatim (stack counts; see package
	// stacks), "" when the module keeps none.
	Stacks string
}

// maxStacks bounds what is read of a stacks file (16384 keys of 32
// frames fit).
const maxStacks = 64 << 20

// reportDirs are the directories of kgen/<name>/ whose files are reports.
var reportDirs = []string{"leaks"}

// maxReport bounds what is read of one report file.
const maxReport = 1 << 20

// ReadStats reads the counters of a loaded module.
func ReadStats(name string, opts *Options) (*Stats, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	o := opts.withDefaults()
	d, err := locateFS(o)
	if err != nil {
		return nil, err
	}
	if d.debugfs == "" {
		return nil, fmt.Errorf("read stats of %s: debugfs is not mounted: %w", name, ErrStatsMissing)
	}
	return readStats(o, path.Join(d.debugfs, "kgen", name))
}

func readStats(o *Options, dir string) (*Stats, error) {
	f, err := os.Open(o.host(path.Join(dir, "stats")))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read stats %s: %w", dir, ErrStatsMissing)
	}
	if err != nil {
		return nil, fmt.Errorf("read stats: %w", err)
	}
	probes, err := ParseStats(f)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("read stats %s: %w", dir, err)
	}
	s := &Stats{Probes: probes, Hists: map[string]string{}, Reports: map[string]string{}}
	for _, rd := range reportDirs {
		readReports(o, dir, rd, 0, s.Reports)
	}
	if f, err := os.Open(o.host(path.Join(dir, "stacks"))); err == nil {
		b, err := io.ReadAll(io.LimitReader(f, maxStacks))
		f.Close()
		if err == nil {
			s.Stacks = string(b)
		}
	}
	ents, _ := os.ReadDir(o.host(dir))
	for _, e := range ents {
		id, ok := strings.CutPrefix(e.Name(), "hist_")
		if !ok {
			continue
		}
		b, err := os.ReadFile(o.host(path.Join(dir, e.Name())))
		if err == nil {
			s.Hists[id] = string(b)
		}
	}
	return s, nil
}

// readReports reads the files under dir/rel, two levels deep at most.
func readReports(o *Options, dir, rel string, depth int, out map[string]string) {
	ents, err := os.ReadDir(o.host(path.Join(dir, rel)))
	if err != nil {
		return
	}
	for _, e := range ents {
		p := path.Join(rel, e.Name())
		if e.IsDir() {
			if depth < 2 {
				readReports(o, dir, p, depth+1, out)
			}
			continue
		}
		f, err := os.Open(o.host(path.Join(dir, p)))
		if err != nil {
			continue
		}
		b, err := io.ReadAll(io.LimitReader(f, maxReport))
		f.Close()
		if err == nil {
			out[p] = string(b)
		}
	}
}

// ParseStats parses a stats file: one counter per line,
//
//	<row> <counter> <value>
//
// where row is a probe id or the module name (module-wide counters),
// counter is a name and value an unsigned decimal. Every kind's module
// writes this format (its runtime kgen_rt.h says so too); the loader knows
// no kind's counter names.
func ParseStats(r io.Reader) ([]ProbeStats, error) {
	var out []ProbeStats
	idx := map[string]int{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 3 {
			return nil, fmt.Errorf("line %d: want \"probe counter value\", got %q", n, line)
		}
		v, err := strconv.ParseUint(f[2], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("line %d: counter value %q: %w", n, f[2], err)
		}
		i, ok := idx[f[0]]
		if !ok {
			i = len(out)
			idx[f[0]] = i
			out = append(out, ProbeStats{Probe: f[0]})
		}
		out[i].Counters = append(out[i].Counters, Counter{Name: f[1], Value: v})
	}
	return out, sc.Err()
}

// WriteTable prints the counters as a table, one line per row in file
// order and a column per counter name in order of first appearance, then
// the histograms.
func (s *Stats) WriteTable(w io.Writer) error {
	var cols []string
	for _, p := range s.Probes {
		for _, c := range p.Counters {
			if !slices.Contains(cols, c.Name) {
				cols = append(cols, c.Name)
			}
		}
	}
	rows := [][]string{append([]string{"probe"}, cols...)}
	for _, p := range s.Probes {
		row := []string{p.Probe}
		for _, c := range cols {
			v := "-"
			for _, pc := range p.Counters {
				if pc.Name == c {
					v = strconv.FormatUint(pc.Value, 10)
				}
			}
			row = append(row, v)
		}
		rows = append(rows, row)
	}
	width := make([]int, len(rows[0]))
	for _, r := range rows {
		for i, c := range r {
			width[i] = max(width[i], len(c))
		}
	}
	var b strings.Builder
	for _, r := range rows {
		fmt.Fprintf(&b, "%-*s", width[0], r[0]) // names left, numbers right
		for i, c := range r[1:] {
			fmt.Fprintf(&b, "  %*s", width[i+1], c)
		}
		b.WriteByte('\n')
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return err
	}
	ids := make([]string, 0, len(s.Hists))
	for id := range s.Hists {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		if _, err := fmt.Fprintf(w, "\nhistogram %s:\n%s", id, s.Hists[id]); err != nil {
			return err
		}
		if !strings.HasSuffix(s.Hists[id], "\n") {
			fmt.Fprintln(w)
		}
	}
	return s.WriteReports(w)
}

// WriteReports prints the reports, each under its path, line by line
// escaped.
func (s *Stats) WriteReports(w io.Writer) error {
	paths := make([]string, 0, len(s.Reports))
	for p := range s.Reports {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		text := s.Reports[p]
		if strings.TrimSpace(text) == "" {
			text = "(empty)\n"
		}
		lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
		for i, l := range lines {
			lines[i] = Escape(l) // the kernel wrote it, but symbols are module-chosen
		}
		if _, err := fmt.Fprintf(w, "\n%s:\n%s\n", p, strings.Join(lines, "\n")); err != nil {
			return err
		}
	}
	return nil
}
