package build

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/fsutil"
)

func TestWorkspace(t *testing.T) {
	state := t.TempDir()
	tmp := filepath.Join(state, "tmp")
	mk := func(p string) {
		t.Helper()
		os.MkdirAll(filepath.Dir(filepath.Join(tmp, p)), 0o755)
		if err := os.WriteFile(filepath.Join(tmp, p), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A killed build (lock free), a running one (lock held), a dir whose
	// lock is gone, a fresh and an old leftover of an older berth.
	mk("build-dead/f")
	mk("build-dead.lock")
	mk("build-live/f")
	unlock, ok, err := fsutil.TryLock(filepath.Join(tmp, "build-live.lock"))
	if err != nil || !ok {
		t.Fatal(err)
	}
	defer unlock()
	mk("build-nolock/f")
	mk("from-new/f")
	mk("add-old")
	old := time.Now().Add(-2 * legacyAge)
	os.Chtimes(filepath.Join(tmp, "add-old"), old, old)

	ws, err := OpenWorkspace(state)
	if err != nil {
		t.Fatal(err)
	}
	names := func() []string {
		ents, _ := os.ReadDir(tmp)
		var out []string
		for _, e := range ents {
			out = append(out, e.Name())
		}
		sort.Strings(out)
		return out
	}
	own := filepath.Base(ws.Dir())
	want := []string{own, own + ".lock", "build-live", "build-live.lock", "from-new"}
	sort.Strings(want)
	if got := names(); !reflect.DeepEqual(got, want) {
		t.Fatalf("after the sweep: %v, want %v", got, want)
	}
	if !strings.HasPrefix(own, wsPrefix) {
		t.Fatalf("workspace %s", own)
	}
	// A second build's sweep leaves the first's workspace alone.
	ws2, err := OpenWorkspace(state)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(ws.Dir()); err != nil {
		t.Fatalf("a live workspace was swept: %v", err)
	}
	for _, w := range []*Workspace{ws, ws2} {
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(w.Dir()); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("closed workspace kept: %v", err)
		}
	}
	// Prune (no build runs) takes everything but what is locked... which
	// it never sees, as a running build holds the state lock.
	unlock()
	rep, err := Prune(t.Context(), state, PruneOptions{})
	if err != nil || rep.Busy || len(names()) != 0 || rep.Reclaimed == 0 {
		t.Fatalf("prune: %+v %v, left %v", rep, err, names())
	}
}

func TestRequestRules(t *testing.T) {
	env := map[string]string{"FROMENV": "e", "TOK": "s3cret", "tok": "s3cret", "SOURCE_DATE_EPOCH": ""}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	args := BuildArgs([]string{"A=1", "FROMENV", "UNSET", "B="}, lookup)
	if !reflect.DeepEqual(args, map[string]string{"A": "1", "FROMENV": "e", "B": ""}) {
		t.Fatalf("build args %v", args)
	}
	if l := Labels([]string{"a=b", "c"}); !reflect.DeepEqual(l, map[string]string{"a": "b", "c": ""}) {
		t.Fatalf("labels %v", l)
	}
	dir := t.TempDir()
	sec, err := Secrets([]string{"id=tok", "id=f,src=/etc/hostname", "id=e,env=TOK"}, lookup, dir)
	if err != nil {
		t.Fatal(err)
	}
	if sec["f"] != "/etc/hostname" {
		t.Fatalf("secrets %v", sec)
	}
	for _, id := range []string{"tok", "e"} {
		b, err := os.ReadFile(sec[id])
		fi, _ := os.Stat(sec[id])
		if err != nil || string(b) != "s3cret" || filepath.Dir(sec[id]) != dir || fi.Mode().Perm() != 0o600 {
			t.Fatalf("secret %s at %s: %q %v", id, sec[id], b, err)
		}
	}
	// A relative src is the working directory's; a missing file fails
	// now, before any step could be cached past it.
	wd, _ := os.Getwd()
	rel := filepath.Join(t.TempDir(), "token")
	os.WriteFile(rel, []byte("t"), 0o600)
	relName, _ := filepath.Rel(wd, rel)
	if sec, err := Secrets([]string{"id=r,src=" + relName}, lookup, dir); err != nil || sec["r"] != rel {
		t.Fatalf("relative src %s: %v %v, want %s", relName, sec, err, rel)
	}
	if _, err := Secrets([]string{"id=m,src=no-such-secret"}, lookup, dir); err == nil || err.Error() != "failed to stat no-such-secret: stat no-such-secret: no such file or directory" {
		t.Fatalf("missing src: %v", err)
	}
	for _, bad := range []string{"src=/x", "id=x,color=red"} {
		if _, err := Secrets([]string{bad}, lookup, dir); !errors.Is(err, ErrBadRequest) {
			t.Errorf("--secret %s: %v", bad, err)
		}
	}
	if e, err := SourceDateEpoch(lookup, map[string]string{"SOURCE_DATE_EPOCH": "10"}); err != nil || e == nil || e.Unix() != 10 {
		t.Fatalf("epoch from build arg: %v %v", e, err)
	}
	env["SOURCE_DATE_EPOCH"] = "soon"
	if _, err := SourceDateEpoch(lookup, nil); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("bad epoch: %v", err)
	}
	ctx := t.TempDir()
	os.WriteFile(filepath.Join(ctx, ".dockerignore"), []byte("*.log\n"), 0o644)
	os.WriteFile(filepath.Join(ctx, "Dockerfile.dockerignore"), []byte("secret\n"), 0o644)
	ig, err := ReadIgnore(ctx, filepath.Join(ctx, "Dockerfile"), false)
	if err != nil || ig == nil || !ig.Excluded("secret") || ig.Excluded("a.log") {
		t.Fatalf("<Dockerfile>.dockerignore first: %v %v", ig, err)
	}
	// In a fetched context a link out to the host's files is not read.
	os.Remove(filepath.Join(ctx, "Dockerfile.dockerignore"))
	os.Remove(filepath.Join(ctx, ".dockerignore"))
	host := filepath.Join(t.TempDir(), "host-ignore")
	os.WriteFile(host, []byte("*\n"), 0o644)
	os.Symlink(host, filepath.Join(ctx, ".dockerignore"))
	if ig, err := ReadIgnore(ctx, filepath.Join(ctx, "Dockerfile"), true); err != nil || ig != nil {
		t.Fatalf("a fetched context's .dockerignore linked to the host was read: %v %v", ig, err)
	}
}
