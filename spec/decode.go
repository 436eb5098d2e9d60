package spec

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"kgen/internal/editdist"
)

// MaxFileSize bounds the size of a spec file.
const MaxFileSize = 1 << 20

// ParseFile reads, decodes, defaults and validates the spec at path.
func ParseFile(path string) (Spec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read spec: %w", err)
	}
	return Parse(path, data)
}

// Parse decodes data strictly, applies defaults and validates it. filename
// only names the file in errors. The result is a pointer to the kind's
// struct (e.g. *Kretprobe). On failure the error is an *ErrorList.
func Parse(filename string, data []byte) (Spec, error) {
	v := newValidator(filename, data)
	k := v.parse()
	if len(v.errs) > 0 {
		// In file order, whichever step (decode, Default, Validate) found
		// them; the "too many errors" line stays last.
		errs := v.errs
		n := len(errs)
		if v.full {
			n--
		}
		slices.SortStableFunc(errs[:n], func(a, b *FieldError) int {
			return cmp.Or(cmp.Compare(a.Pos.Line, b.Pos.Line), cmp.Compare(a.Pos.Col, b.Pos.Col))
		})
		return nil, &errs
	}
	return k, nil
}

func (v *Validator) parse() Kind {
	if len(v.data) > MaxFileSize {
		v.add(Pos{}, "", fmt.Sprintf("file is %d bytes; a spec may be at most %d", len(v.data), MaxFileSize))
		return nil
	}
	if v.checkTabs() {
		return nil
	}
	root := v.readDocument()
	if root == nil {
		return nil
	}
	v.checkNode(root, "")
	if len(v.errs) > 0 {
		return nil
	}
	if root.Kind != yaml.MappingNode {
		v.errorAt(root, "", "a spec must be a mapping with apiVersion, kind and name; got %s", describe(root))
		return nil
	}
	v.nodes[""] = root
	newFn := v.header(root)
	if newFn == nil {
		return nil
	}
	k := newFn()
	v.decode(root, reflect.ValueOf(k).Elem(), "")
	if len(v.errs) > 0 {
		return nil
	}
	k.Default(v)
	v.validateMeta(k.Header())
	k.Validate(v)
	return k
}

// checkTabs reports tab characters, which YAML forbids in indentation and
// kgen forbids everywhere for simplicity.
func (v *Validator) checkTabs() bool {
	found := false
	for i, line := range v.lines {
		if j := bytes.IndexByte(line, '\t'); j >= 0 {
			col := len([]rune(string(line[:j]))) + 1
			v.add(Pos{i + 1, col}, "", "tab character; indent and separate with spaces")
			found = true
		}
	}
	return found
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// readDocument returns the root node of the only document in the file.
func (v *Validator) readDocument() *yaml.Node {
	dec := yaml.NewDecoder(bytes.NewReader(v.data))
	var doc yaml.Node
	if err := safeDecode(dec, &doc); err != nil {
		if errors.Is(err, io.EOF) {
			v.add(Pos{}, "", "file is empty; expected a spec starting with apiVersion: "+APIVersion)
		} else {
			v.yamlError(err)
		}
		return nil
	}
	var next yaml.Node
	switch err := safeDecode(dec, &next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		v.yamlError(err)
		return nil
	default:
		v.add(nodePos(&next), "", "more than one YAML document; put one spec per file")
		return nil
	}
	if doc.Kind == yaml.DocumentNode {
		if len(doc.Content) == 0 {
			v.add(Pos{}, "", "file is empty; expected a spec starting with apiVersion: "+APIVersion)
			return nil
		}
		return doc.Content[0]
	}
	return &doc
}

// safeDecode shields Parse from a panic inside the YAML library.
func safeDecode(dec *yaml.Decoder, n *yaml.Node) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("yaml: internal error: %v", r)
		}
	}()
	return dec.Decode(n)
}

func (v *Validator) yamlError(err error) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if m := yamlLineRE.FindStringSubmatch(err.Error()); m != nil {
		msg = m[2]
	}
	// yaml.v3 reports only a line, and for parser errors the line of the
	// construct it was in (0-based). The first line at which a prefix of
	// the file stops parsing is where the problem is; its first non-blank
	// character gives the column.
	if line := v.firstBadLine(); line > 0 {
		v.add(Pos{Line: line, Col: firstNonBlank(v.lines[line-1])}, "", "invalid YAML: "+msg)
		return
	}
	if m := yamlLineRE.FindStringSubmatch(err.Error()); m != nil {
		line, _ := strconv.Atoi(m[1])
		col := 1
		if line >= 1 && line <= len(v.lines) {
			col = firstNonBlank(v.lines[line-1])
		}
		v.add(Pos{Line: line, Col: col}, "", "invalid YAML: "+msg)
		return
	}
	v.add(Pos{}, "", "invalid YAML: "+msg)
}

// firstBadLine returns the smallest n such that the file's first n lines
// do not parse (by bisection; a prefix that parses is assumed to have no
// error before its end), or 0.
func (v *Validator) firstBadLine() int {
	bad := func(n int) bool {
		var doc yaml.Node
		dec := yaml.NewDecoder(bytes.NewReader(bytes.Join(v.lines[:n], []byte("\n"))))
		err := safeDecode(dec, &doc)
		return err != nil && !errors.Is(err, io.EOF)
	}
	lo, hi := 0, len(v.lines) // lines[:lo] parses, lines[:hi] does not
	if !bad(hi) {
		return 0
	}
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		if bad(mid) {
			hi = mid
		} else {
			lo = mid
		}
	}
	return hi
}

// firstNonBlank is the 1-based column of line's first non-blank byte, or 1.
func firstNonBlank(line []byte) int {
	for i, c := range line {
		if c != ' ' && c != '\t' {
			return i + 1
		}
	}
	return 1
}

// checkNode rejects the YAML features kgen does not support (anchors,
// aliases, merge keys, explicit tags, complex keys) and duplicate keys.
func (v *Validator) checkNode(n *yaml.Node, path string) {
	if n.Kind == yaml.AliasNode {
		v.errorAt(n, path, "aliases (*%s) are not supported; write the value out", n.Value)
		return
	}
	if n.Anchor != "" {
		v.errorAt(n, path, "anchors (&%s) are not supported; write the value out", n.Anchor)
	}
	if n.Style&yaml.TaggedStyle != 0 {
		v.errorAt(n, path, "explicit tags (%s) are not supported; quote strings instead", n.Tag)
	}
	switch n.Kind {
	case yaml.SequenceNode:
		for i, c := range n.Content {
			v.checkNode(c, fmt.Sprintf("%s[%d]", path, i))
		}
	case yaml.MappingNode:
		seen := map[string]*yaml.Node{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			if k.Kind == yaml.AliasNode {
				v.errorAt(k, path, "aliases (*%s) are not supported; write the value out", k.Value)
				continue
			}
			if k.Tag == "!!merge" {
				v.errorAt(k, path, "merge keys (<<) are not supported; write the fields out")
				continue
			}
			if k.Kind != yaml.ScalarNode || k.Tag != "!!str" {
				v.errorAt(k, path, "mapping keys must be plain names; got %s", describe(k))
				continue
			}
			p := joinPath(path, k.Value)
			if first, dup := seen[k.Value]; dup {
				v.errorAt(k, p, "duplicate key %q (first at line %d)", k.Value, first.Line)
				continue
			}
			seen[k.Value] = k
			v.checkNode(val, p)
		}
	}
}

// header checks apiVersion and kind and returns the kind's constructor.
func (v *Validator) header(root *yaml.Node) func() Kind {
	get := func(key string) *yaml.Node {
		for i := 0; i+1 < len(root.Content); i += 2 {
			if root.Content[i].Value == key {
				return root.Content[i+1]
			}
		}
		return nil
	}
	ok := true
	switch n := get("apiVersion"); {
	case n == nil || n.Tag == "!!null" || (n.Tag == "!!str" && n.Value == ""):
		v.errorAt(root, "apiVersion", "required; must be %q", APIVersion)
		ok = false
	case n.Tag != "!!str" || n.Value != APIVersion:
		v.errorAt(n, "apiVersion", "%s unsupported; must be %q", quoteValue(n), APIVersion)
		ok = false
	}
	known := strings.Join(Kinds(), ", ")
	n := get("kind")
	switch {
	case n == nil || n.Tag == "!!null" || (n.Tag == "!!str" && n.Value == ""):
		v.errorAt(root, "kind", "required; one of: %s", known)
		return nil
	case n.Tag != "!!str" || registry[n.Value] == nil:
		v.errorAt(n, "kind", "unknown kind %s; one of: %s", quoteValue(n), known)
		return nil
	}
	if !ok {
		return nil
	}
	return registry[n.Value]
}

var reModuleName = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

const maxModuleName = 55

func (v *Validator) validateMeta(m *Meta) {
	switch {
	case m.Name == "":
		v.Errorf("name", "required; the module name, matching [a-z][a-z0-9_]*")
	case !reModuleName.MatchString(m.Name):
		v.Errorf("name", "%q must match [a-z][a-z0-9_]* (a module name)", m.Name)
	case len(m.Name) > maxModuleName:
		v.Errorf("name", "%d characters; at most %d (the kernel's module name limit)", len(m.Name), maxModuleName)
	case badModuleName(v, m.Name):
	}
}

// field is one yaml-tagged struct field, inline structs flattened.
type field struct {
	name  string
	index []int
}

func structFields(t reflect.Type) []field {
	var fs []field
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		tag := sf.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" || (!sf.IsExported() && !sf.Anonymous) {
			continue
		}
		if strings.Contains(","+opts+",", ",inline,") && sf.Type.Kind() == reflect.Struct {
			for _, f := range structFields(sf.Type) {
				fs = append(fs, field{f.name, append([]int{i}, f.index...)})
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(sf.Name)
		}
		fs = append(fs, field{name, []int{i}})
	}
	return fs
}

// decode walks n onto rv, recording the node of every path.
func (v *Validator) decode(n *yaml.Node, rv reflect.Value, path string) {
	v.nodes[path] = n
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		// A key with no value (or ~, null) is neither the key left out
		// nor a value of its type; the JSON Schema refuses it too.
		v.errorAt(n, path, "no value; give one (e.g. [] for an empty list) or remove the key")
		return
	}
	switch rv.Kind() {
	case reflect.Pointer:
		p := reflect.New(rv.Type().Elem())
		v.decode(n, p.Elem(), path)
		rv.Set(p)
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			v.errorAt(n, path, "must be a mapping (key: value pairs); got %s", describe(n))
			return
		}
		fs := structFields(rv.Type())
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			var f *field
			for j := range fs {
				if fs[j].name == k.Value {
					f = &fs[j]
				}
			}
			if f == nil {
				v.errorAt(k, path, "%s", unknownField(k.Value, fs))
				continue
			}
			v.decode(val, rv.FieldByIndex(f.index), joinPath(path, f.name))
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			v.errorAt(n, path, "must be a list; got %s", describe(n))
			return
		}
		s := reflect.MakeSlice(rv.Type(), len(n.Content), len(n.Content))
		for i, c := range n.Content {
			v.decode(c, s.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
		rv.Set(s)
	case reflect.String:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
			v.errorAt(n, path, "must be a string; got %s (quote it)", describe(n))
			return
		}
		rv.SetString(n.Value)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		var i int64
		if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
			v.errorAt(n, path, "must be an integer; got %s", describe(n))
			return
		}
		if err := n.Decode(&i); err != nil || rv.OverflowInt(i) {
			v.errorAt(n, path, "integer %s out of range", n.Value)
			return
		}
		rv.SetInt(i)
	case reflect.Bool:
		var b bool
		if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" || n.Decode(&b) != nil {
			v.errorAt(n, path, "must be true or false; got %s", describe(n))
			return
		}
		rv.SetBool(b)
	default:
		v.errorAt(n, path, "internal error: cannot decode into Go type %s", rv.Type())
	}
}

func unknownField(name string, fs []field) string {
	names := make([]string, len(fs))
	best, bestD := "", 3
	for i, f := range fs {
		names[i] = f.name
		if d := editdist.Distance(strings.ToLower(name), strings.ToLower(f.name), 2); d < bestD {
			best, bestD = f.name, d
		}
	}
	msg := fmt.Sprintf("unknown field %q", name)
	if best != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", best)
	}
	return msg + "; allowed: " + strings.Join(names, ", ")
}

func joinPath(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func nodePos(n *yaml.Node) Pos { return Pos{Line: n.Line, Col: n.Column} }

// describe names a node's type and value for messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.DocumentNode:
		return "a document"
	}
	v := n.Value
	if len(v) > 40 {
		v = v[:40] + "..."
	}
	switch n.Tag {
	case "!!str":
		return "string " + strconv.Quote(v)
	case "!!int":
		return "integer " + v
	case "!!float":
		return "number " + v
	case "!!bool":
		return "boolean " + v
	case "!!null":
		return "null"
	case "!!timestamp":
		return "timestamp " + v
	}
	return strings.TrimPrefix(n.Tag, "!!") + " " + strconv.Quote(v)
}

func quoteValue(n *yaml.Node) string {
	if n.Kind == yaml.ScalarNode {
		return strconv.Quote(n.Value)
	}
	return describe(n)
}
