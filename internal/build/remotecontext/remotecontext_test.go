package remotecontext

import (
	"strings"
	"testing"
)

func TestParseGitURL(t *testing.T) {
	for _, tc := range []struct {
		in      string
		git     bool
		want    GitRef
		wantErr bool
	}{
		{in: "https://example.com/org/repo.git", git: true, want: GitRef{Remote: "https://example.com/org/repo.git"}},
		{in: "https://example.com/org/repo.git#main", git: true, want: GitRef{Remote: "https://example.com/org/repo.git", Ref: "main"}},
		{in: "https://example.com/org/repo.git#v1.2:docker/app", git: true, want: GitRef{Remote: "https://example.com/org/repo.git", Ref: "v1.2", Subdir: "docker/app"}},
		{in: "https://example.com/org/repo.git#:sub", git: true, want: GitRef{Remote: "https://example.com/org/repo.git", Subdir: "sub"}},
		{in: "git@github.com:org/repo.git#dev", git: true, want: GitRef{Remote: "git@github.com:org/repo.git", Ref: "dev"}},
		{in: "git://example.com/repo", git: true, want: GitRef{Remote: "git://example.com/repo"}},
		{in: "github.com/org/repo#main:sub", git: true, want: GitRef{Remote: "https://github.com/org/repo", Ref: "main", Subdir: "sub"}},
		{in: "https://example.com/repo.git#-oops", git: true, wantErr: true},
		{in: "https://example.com/context.tar.gz", git: false},
		{in: "https://example.com/repo.git.tar", git: false},
		{in: "./repo.git", git: false},
		{in: "ext::sh -c touch% /tmp/x", git: false},
		{in: "file:///srv/repo.git", git: false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			if got := IsGitURL(tc.in); got != tc.git {
				t.Fatalf("IsGitURL = %v, want %v", got, tc.git)
			}
			g, err := ParseGitURL(tc.in)
			if !tc.git || tc.wantErr {
				if err == nil {
					t.Fatalf("ParseGitURL = %+v, want an error", g)
				}
				return
			}
			if err != nil || g != tc.want {
				t.Fatalf("ParseGitURL = %+v, %v; want %+v", g, err, tc.want)
			}
		})
	}
}

// FuzzParseGitURL: whatever the context argument, a parsed remote is one of
// the transports allowed and a ref never reads as a git option.
func FuzzParseGitURL(f *testing.F) {
	for _, s := range []string{"https://h/r.git#a:b", "git@h:r.git", "github.com/o/r#x", "git://h/r#-x:../.."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		g, err := ParseGitURL(s)
		if err != nil {
			return
		}
		ok := false
		for _, p := range []string{"https://", "http://", "git://", "git@"} {
			ok = ok || strings.HasPrefix(g.Remote, p)
		}
		if !ok || strings.HasPrefix(g.Ref, "-") {
			t.Fatalf("%q parsed to %+v", s, g)
		}
	})
}
