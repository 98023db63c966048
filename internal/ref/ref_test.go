package ref

import "testing"

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
