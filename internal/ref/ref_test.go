package ref

import (
	"errors"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in, full, familiar string
		wantErr            bool
	}{
		{in: "busybox", full: "docker.io/library/busybox:latest", familiar: "busybox:latest"},
		{in: "nginx:1.25", full: "docker.io/library/nginx:1.25", familiar: "nginx:1.25"},
		{in: "user/app", full: "docker.io/user/app:latest", familiar: "user/app:latest"},
		{in: "docker.io/library/busybox:1", full: "docker.io/library/busybox:1", familiar: "busybox:1"},
		{in: "index.docker.io/library/busybox", full: "docker.io/library/busybox:latest", familiar: "busybox:latest"},
		{in: "localhost:5000/x:tag", full: "localhost:5000/x:tag", familiar: "localhost:5000/x:tag"},
		{in: "registry.example.com/myapp:latest", full: "registry.example.com/myapp:latest", familiar: "registry.example.com/myapp:latest"},
		{in: "busybox@sha256:" + hex64, full: "docker.io/library/busybox@sha256:" + hex64, familiar: "busybox@sha256:" + hex64},
		{in: "Busybox", wantErr: true},
		{in: "", wantErr: true},
		{in: "a b", wantErr: true},
		{in: "busybox:", wantErr: true},
		{in: "busybox@sha256:abc", wantErr: true},
		{in: "-x", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			r, err := Parse(tt.in)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("Parse(%q) = %v, want error", tt.in, r)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			if got := FullName(r); got != tt.full {
				t.Errorf("FullName = %q, want %q", got, tt.full)
			}
			if got := Familiar(r); got != tt.familiar {
				t.Errorf("Familiar = %q, want %q", got, tt.familiar)
			}
		})
	}
}

// TestParseLowercaseWording pins Docker's message for an upper-case
// repository: it names the path as Docker normalizes it.
func TestParseLowercaseWording(t *testing.T) {
	for in, want := range map[string]string{
		"Bad:Name":            "invalid reference format: repository name (library/Bad) must be lowercase",
		"user/App":            "invalid reference format: repository name (user/App) must be lowercase",
		"localhost:5000/Up:1": "invalid reference format: repository name (Up) must be lowercase",
		"docker.io/Busybox@x": "invalid reference format: repository name (library/Busybox) must be lowercase",
		"Reg/app":             "", // an upper-case first component is a registry host to Docker
		"busybox:UPPERTAG":    "",
	} {
		_, err := Parse(in)
		switch {
		case want == "" && err != nil && strings.Contains(err.Error(), "lowercase"):
			t.Errorf("Parse(%q): %v, want no lowercase complaint", in, err)
		case want != "" && (err == nil || err.Error() != want || !errors.Is(err, ErrInvalid)):
			t.Errorf("Parse(%q): %v, want %q wrapping ErrInvalid", in, err, want)
		}
	}
}

const hex64 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func FuzzParse(f *testing.F) {
	for _, s := range []string{"busybox", "a/b:c", "localhost:5000/x@sha256:" + hex64, "::", "@", "A"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := Parse(s)
		if err != nil {
			return
		}
		// A parsed name must survive a round trip through its full form.
		r2, err := Parse(FullName(r))
		if err != nil {
			t.Fatalf("full name %q of %q does not parse: %v", FullName(r), s, err)
		}
		if FullName(r2) != FullName(r) {
			t.Fatalf("round trip %q -> %q", FullName(r), FullName(r2))
		}
	})
}
