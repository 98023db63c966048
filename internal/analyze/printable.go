package analyze

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Printable makes a name from a layer safe to print on a terminal: control
// characters (escape sequences a hostile layer could use to rewrite the
// screen), invalid UTF-8 and line breaks become \xNN or \u escapes. Names
// without such characters come back unchanged, so dive-compatible output
// stays byte for byte the same.
func Printable(s string) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f || c >= 0x80 {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case !unicode.IsPrint(r) && r != ' ':
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}
