package loader

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Escape makes text a traced task may have chosen (a comm in a trace
// line) safe for a terminal: C0 and C1 control characters, DEL, bytes
// that are not UTF-8 and the backslash are written as \t, \n, \xNN or
// \u00NN and \\, so no escape sequence reaches the terminal raw and the
// output reads back unambiguously.
func Escape(s string) string {
	clean := true
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if needsEscape(r, n) {
			clean = false
			break
		}
		i += n
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r >= 0x80 && r < 0xa0:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

func needsEscape(r rune, n int) bool {
	return (r == utf8.RuneError && n == 1) || r == '\\' || r < 0x20 || (r >= 0x7f && r < 0xa0)
}

// escapeJSONControls escapes DEL and the C1 controls (U+0080..U+009F),
// which encoding/json leaves raw, in encoded JSON; a terminal may act on
// them (U+009B is CSI). They occur only inside strings, where \u00NN
// means the same character.
func escapeJSONControls(b []byte) []byte {
	if !bytes.ContainsRune(b, 0x7f) && !bytes.ContainsAny(b, "\u0080\u0081\u0082\u0083\u0084\u0085\u0086\u0087\u0088\u0089\u008a\u008b\u008c\u008d\u008e\u008f\u0090\u0091\u0092\u0093\u0094\u0095\u0096\u0097\u0098\u0099\u009a\u009b\u009c\u009d\u009e\u009f") {
		return b
	}
	var out bytes.Buffer
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == 0x7f || (r >= 0x80 && r < 0xa0) {
			fmt.Fprintf(&out, `\u%04x`, r)
		} else {
			out.Write(b[i : i+n])
		}
		i += n
	}
	return out.Bytes()
}
