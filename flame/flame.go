// Package flame renders collapsed ("folded") stacks as an SVG flame
// graph: the root at the bottom, each frame a box as wide as its share of
// the hits, its children above it sorted by name (flamegraph.pl's
// layout). Hover a box for its name, hits and share. The output is
// deterministic and self-contained (no script).
package flame

import (
	"bufio"
	"fmt"
	"hash/fnv"
	"io"
	"sort"
	"strconv"
	"strings"
)

// Options of Render.
type Options struct {
	Title string
	Width int // pixels; default 1200
}

type node struct {
	name     string
	count    uint64
	children map[string]*node
}

func (n *node) child(name string) *node {
	if n.children == nil {
		n.children = map[string]*node{}
	}
	c, ok := n.children[name]
	if !ok {
		c = &node{name: name}
		n.children[name] = c
	}
	return c
}

func (n *node) depth() int {
	d := 0
	for _, c := range n.children {
		d = max(d, c.depth())
	}
	return d + 1
}

// Parse reads folded lines ("a;b;c 12"); blank lines are skipped.
func Parse(lines []string) (*node, error) {
	root := &node{name: "all"}
	for i, l := range lines {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		sp := strings.LastIndexByte(l, ' ')
		if sp < 0 {
			return nil, fmt.Errorf("parse folded line %d %q: want \"frames count\"", i+1, l)
		}
		n, err := strconv.ParseUint(l[sp+1:], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("parse folded line %d %q: count: want a number", i+1, l)
		}
		cur := root
		root.count += n
		for _, f := range strings.Split(l[:sp], ";") {
			cur = cur.child(f)
			cur.count += n
		}
	}
	return root, nil
}

const (
	rowHeight = 16
	padTop    = 40
	padBottom = 10
	padSide   = 10
	charWidth = 7 // of 12px monospace, for truncating labels
)

// Render writes the flame graph of folded lines as SVG.
func Render(w io.Writer, lines []string, o Options) error {
	root, err := Parse(lines)
	if err != nil {
		return err
	}
	if o.Width <= 0 {
		o.Width = 1200
	}
	rows := root.depth()
	height := padTop + rows*rowHeight + padBottom
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, `<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<svg version="1.1" xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d">
<style>text { font-family: monospace; font-size: 12px; fill: #000; } rect:hover { stroke: #000; stroke-width: 0.5; }</style>
<rect x="0" y="0" width="%d" height="%d" fill="#f8f8f0"/>
<text x="%d" y="24" text-anchor="middle" style="font-size:16px">%s</text>
`, o.Width, height, o.Width, height, o.Width, height, o.Width/2, esc(o.Title))
	if root.count == 0 {
		fmt.Fprintf(bw, "<text x=\"%d\" y=\"%d\">no stacks</text>\n", padSide, padTop+rowHeight)
	} else {
		scale := float64(o.Width-2*padSide) / float64(root.count)
		draw(bw, root, root.count, padSide, 0, rows, scale)
	}
	fmt.Fprintln(bw, "</svg>")
	return bw.Flush()
}

// draw writes n's box at depth d (0 = bottom row) from x, then its
// children left to right by name.
func draw(w io.Writer, n *node, total uint64, x float64, d, rows int, scale float64) {
	width := float64(n.count) * scale
	if width < 0.1 {
		return
	}
	y := padTop + (rows-1-d)*rowHeight
	pct := 100 * float64(n.count) / float64(total)
	fmt.Fprintf(w, "<g><title>%s (%d hits, %.2f%%)</title><rect x=\"%.2f\" y=\"%d\" width=\"%.2f\" height=\"%d\" fill=\"%s\" rx=\"2\"/>",
		esc(n.name), n.count, pct, x, y, width, rowHeight-1, color(n.name))
	if chars := int((width - 6) / charWidth); chars >= 3 {
		label := n.name
		if len(label) > chars {
			label = label[:chars-2] + ".."
		}
		fmt.Fprintf(w, "<text x=\"%.2f\" y=\"%d\">%s</text>", x+3, y+rowHeight-4, esc(label))
	}
	fmt.Fprintln(w, "</g>")
	names := make([]string, 0, len(n.children))
	for k := range n.children {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		c := n.children[k]
		draw(w, c, total, x, d+1, rows, scale)
		x += float64(c.count) * scale
	}
}

// color is a warm colour derived from the name, so a function keeps its
// colour across graphs.
func color(name string) string {
	h := fnv.New32a()
	h.Write([]byte(name))
	v := h.Sum32()
	r := 205 + v%50
	g := 80 + (v>>8)%150
	b := 40 + (v>>16)%50
	return fmt.Sprintf("rgb(%d,%d,%d)", r, g, b)
}

func esc(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '&':
			b.WriteString("&amp;")
		case '"':
			b.WriteString("&quot;")
		case '\'':
			b.WriteString("&#39;")
		default:
			if r < 0x20 || r == 0xfffd {
				b.WriteByte('?')
			} else {
				b.WriteRune(r)
			}
		}
	}
	return b.String()
}
