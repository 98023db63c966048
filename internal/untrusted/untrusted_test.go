package untrusted

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestQuoteAndText(t *testing.T) {
	long := strings.Repeat("a", 20<<10)
	for _, tc := range []struct {
		in, quote, text string
	}{
		{"busybox:latest", `"busybox:latest"`, "busybox:latest"},
		{"a\nb\x1b[31m", `"a\nb\x1b[31m"`, `a\nb\x1b[31m`},
		{"bad\xffutf8", `"bad\xffutf8"`, `bad\xffutf8`},
		{"é\u2028", `"é\u2028"`, `é\u2028`},
		{long, `"` + long[:Max] + `"… (20480 bytes)`, long[:Max] + "… (20480 bytes)"},
		// The cut never splits a rune.
		{strings.Repeat("é", 150), `"` + strings.Repeat("é", 100) + `"… (300 bytes)`, strings.Repeat("é", 100) + "… (300 bytes)"},
	} {
		if got := Quote(tc.in); got != tc.quote {
			t.Errorf("Quote(%.20q…) = %.60q, want %.60q", tc.in, got, tc.quote)
		}
		if got := Text(tc.in); got != tc.text {
			t.Errorf("Text(%.20q…) = %.60q, want %.60q", tc.in, got, tc.text)
		}
	}
}

func FuzzText(f *testing.F) {
	f.Add("x\n\x00\xff" + strings.Repeat("é", 200))
	f.Fuzz(func(t *testing.T, s string) {
		for _, out := range []string{Quote(s), Text(s)} {
			if len(out) > 4*Max+40 {
				t.Fatalf("%d bytes out of %d", len(out), len(s))
			}
			if !utf8.ValidString(out) || strings.ContainsAny(out, "\n\r\x1b\x00") {
				t.Fatalf("unsafe output %q", out)
			}
		}
	})
}
