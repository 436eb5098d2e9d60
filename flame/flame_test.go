package flame

import (
	"bytes"
	"encoding/xml"
	"io"
	"strings"
	"testing"
)

func render(t *testing.T, lines []string) string {
	t.Helper()
	var b bytes.Buffer
	if err := Render(&b, lines, Options{Title: "t <&> \"q\""}); err != nil {
		t.Fatal(err)
	}
	d := xml.NewDecoder(bytes.NewReader(b.Bytes()))
	for {
		if _, err := d.Token(); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("not well-formed XML: %v\n%s", err, b.String())
		}
	}
	return b.String()
}

func TestRender(t *testing.T) {
	svg := render(t, []string{"dd;ksys_read;vfs_read 30", "dd;kernel_read;vfs_read 10", "cat;<x&y> 60"})
	for _, want := range []string{
		"<title>all (100 hits, 100.00%)</title>",
		"<title>dd (40 hits, 40.00%)</title>",
		"<title>vfs_read (30 hits, 30.00%)</title>",
		"<title>vfs_read (10 hits, 10.00%)</title>",
		"<title>&lt;x&amp;y&gt; (60 hits, 60.00%)</title>",
		"t &lt;&amp;&gt; &quot;q&quot;",
	} {
		if !strings.Contains(svg, want) {
			t.Errorf("SVG lacks %q", want)
		}
	}
	// Children left to right by name: cat's box starts at the left edge,
	// dd's after its 60%.
	if !strings.Contains(svg, `<title>cat (60 hits, 60.00%)</title><rect x="10.00"`) ||
		!strings.Contains(svg, `<title>dd (40 hits, 40.00%)</title><rect x="718.00"`) {
		t.Errorf("boxes not laid out by name and share:\n%s", svg)
	}
	if render(t, []string{"dd;ksys_read;vfs_read 30", "dd;kernel_read;vfs_read 10", "cat;<x&y> 60"}) != svg {
		t.Error("output not deterministic")
	}
}

func TestRenderEmptyAndErrors(t *testing.T) {
	if svg := render(t, nil); !strings.Contains(svg, "no stacks") {
		t.Errorf("empty graph does not say no stacks:\n%s", svg)
	}
	for _, l := range []string{"nocount", "a;b x"} {
		if err := Render(io.Discard, []string{l}, Options{}); err == nil {
			t.Errorf("Render(%q) = nil error", l)
		}
	}
}
