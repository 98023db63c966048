package untrusted

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Max is how many bytes of an untrusted string an error message keeps.
// Real names (a reference, a path in an image) fit; what is longer is an
// attack or an accident, and its start identifies it.
const Max = 200

// Quote returns s as a Go-quoted string (control characters and invalid
// UTF-8 escaped), cut to Max bytes with the size of the whole:
// "aaaa…"… (20480 bytes). Use it in place of %q for untrusted text.
func Quote(s string) string {
	head, cut := bound(s)
	q := strconv.Quote(head)
	if cut {
		return q + "… (" + strconv.Itoa(len(s)) + " bytes)"
	}
	return q
}

// Text returns s for printing unquoted (a registry's error message, a
// header value): cut like Quote, with control characters and invalid UTF-8
// escaped so the message stays one line and cannot drive the terminal.
func Text(s string) string {
	head, cut := bound(s)
	var b strings.Builder
	for i := 0; i < len(head); {
		r, n := utf8.DecodeRuneInString(head[i:])
		switch {
		case r == utf8.RuneError && n <= 1:
			b.WriteString(`\x` + strconv.FormatUint(uint64(head[i]), 16))
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == 0x2028 || r == 0x2029:
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteString(head[i : i+n])
		}
		i += n
	}
	if cut {
		b.WriteString("… (" + strconv.Itoa(len(s)) + " bytes)")
	}
	return b.String()
}

// bound cuts s to at most Max bytes at a rune boundary.
func bound(s string) (string, bool) {
	if len(s) <= Max {
		return s, false
	}
	i := Max
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i], true
}
