package remote

import (
	"strings"
	"testing"
)

func TestSplitSearchTerm(t *testing.T) {
	for _, tt := range []struct{ term, host, rest string }{
		{"nginx", "", "nginx"},
		{"library/nginx", "", "library/nginx"},
		{"localhost/app", "localhost", "app"},
		{"127.0.0.1:5000/app", "127.0.0.1:5000", "app"},
		{"registry.example.com/", "registry.example.com", ""},
		{"docker.io/nginx", "", "nginx"},
		{"index.docker.io/nginx", "", "nginx"},
	} {
		if h, r := SplitSearchTerm(tt.term); h != tt.host || r != tt.rest {
			t.Errorf("%q: (%q, %q), want (%q, %q)", tt.term, h, r, tt.host, tt.rest)
		}
	}
}

func TestParseSearchFilter(t *testing.T) {
	f, err := ParseSearchFilter([]string{"stars=3", "is-official=true", "IS-AUTOMATED=0"})
	if err != nil || f.Stars != 3 || f.Official == nil || !*f.Official || f.Automated == nil || *f.Automated {
		t.Fatalf("%+v %v", f, err)
	}
	for _, tt := range []struct{ in, want string }{
		{"stars", "bad format of filter"},
		{"stars=-1", "invalid filter 'stars=-1'"},
		{"is-official=maybe", "invalid filter 'is-official=maybe'"},
		{"color=red", "invalid filter 'color'"},
	} {
		if _, err := ParseSearchFilter([]string{tt.in}); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: %v, want %q", tt.in, err, tt.want)
		}
	}
	for _, n := range []int{0, 101} {
		if err := (SearchOptions{Limit: n}).Check(); err == nil {
			t.Errorf("limit %d accepted", n)
		}
	}
}
