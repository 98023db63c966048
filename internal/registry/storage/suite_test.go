package storage

import (
	"bytes"
	"context"
	"errors"
	"io"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// testDriver is the suite every Driver must pass; a new implementation (an
// object store) adds one line to TestDrivers.
func testDriver(t *testing.T, d Driver) {
	ctx := context.Background()
	t.Run("put stat open", func(t *testing.T) {
		info, err := d.Put(ctx, "a/b/c", bytes.NewReader([]byte("hello")), Cond{})
		if err != nil || info.Size != 5 || info.ETag == "" {
			t.Fatalf("%+v %v", info, err)
		}
		st, err := d.Stat(ctx, "a/b/c")
		if err != nil || st.ETag != info.ETag {
			t.Fatalf("%+v %v", st, err)
		}
		rd, err := d.Open(ctx, "a/b/c")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rd)
		rd.Close()
		if string(b) != "hello" {
			t.Fatalf("%q", b)
		}
	})
	t.Run("missing", func(t *testing.T) {
		if _, err := d.Stat(ctx, "nope"); !errors.Is(err, ErrNotFound) {
			t.Errorf("stat: %v", err)
		}
		if _, err := d.Open(ctx, "nope/x"); !errors.Is(err, ErrNotFound) {
			t.Errorf("open: %v", err)
		}
		if err := d.Delete(ctx, "nope"); !errors.Is(err, ErrNotFound) {
			t.Errorf("delete: %v", err)
		}
		if _, err := d.Stat(ctx, "a/b/c/d"); !errors.Is(err, ErrNotFound) {
			t.Errorf("below a file: %v", err)
		}
	})
	t.Run("invalid keys", func(t *testing.T) {
		for _, k := range []string{"", "../x", "a/../b", "/abs", "a//b", ".hidden", "a/.tmp-1", "sp ace", "a/"} {
			if _, err := d.Put(ctx, k, bytes.NewReader(nil), Cond{}); !errors.Is(err, ErrInvalidKey) {
				t.Errorf("%q: %v", k, err)
			}
		}
	})
	t.Run("failed reader leaves nothing", func(t *testing.T) {
		boom := errors.New("boom")
		_, err := d.Put(ctx, "fail/x", io.MultiReader(bytes.NewReader([]byte("part")), errReader{boom}), Cond{})
		if !errors.Is(err, boom) {
			t.Fatalf("%v", err)
		}
		if _, err := d.Stat(ctx, "fail/x"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("partial object visible: %v", err)
		}
		n := 0
		d.List(ctx, "fail/", func(Info) error { n++; return nil })
		if n != 0 {
			t.Fatalf("%d leftovers listed", n)
		}
	})
	t.Run("conditional writes", func(t *testing.T) {
		i1, err := d.Put(ctx, "cond", bytes.NewReader([]byte("1")), Cond{IfNoneMatch: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := d.Put(ctx, "cond", bytes.NewReader([]byte("2")), Cond{IfNoneMatch: true}); !errors.Is(err, ErrPrecondition) {
			t.Fatalf("create over existing: %v", err)
		}
		i2, err := d.Put(ctx, "cond", bytes.NewReader([]byte("2")), Cond{IfMatch: i1.ETag})
		if err != nil || i2.ETag == i1.ETag {
			t.Fatalf("%v %v", i2, err)
		}
		if _, err := d.Put(ctx, "cond", bytes.NewReader([]byte("3")), Cond{IfMatch: i1.ETag}); !errors.Is(err, ErrPrecondition) {
			t.Fatalf("stale etag: %v", err)
		}
	})
	t.Run("concurrent compare-and-swap loses no update", func(t *testing.T) {
		d.Put(ctx, "counter", bytes.NewReader([]byte{0}), Cond{})
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 5 {
					for {
						info, _ := d.Stat(ctx, "counter")
						rd, _ := d.Open(ctx, "counter")
						b, _ := io.ReadAll(rd)
						rd.Close()
						if st, _ := d.Stat(ctx, "counter"); st.ETag != info.ETag {
							continue
						}
						_, err := d.Put(ctx, "counter", bytes.NewReader([]byte{b[0] + 1}), Cond{IfMatch: info.ETag})
						if err == nil {
							break
						}
						if !errors.Is(err, ErrPrecondition) {
							t.Error(err)
							return
						}
					}
				}
			}()
		}
		wg.Wait()
		rd, _ := d.Open(ctx, "counter")
		b, _ := io.ReadAll(rd)
		rd.Close()
		if b[0] != 40 {
			t.Fatalf("counter %d, want 40", b[0])
		}
	})
	t.Run("list", func(t *testing.T) {
		for _, k := range []string{"l/x/1", "l/x/2", "l/y/3", "lz"} {
			d.Put(ctx, k, bytes.NewReader([]byte(k)), Cond{})
		}
		var got []string
		if err := d.List(ctx, "l/x/", func(i Info) error { got = append(got, i.Key); return nil }); err != nil {
			t.Fatal(err)
		}
		sort.Strings(got)
		if len(got) != 2 || got[0] != "l/x/1" || got[1] != "l/x/2" {
			t.Fatalf("%v", got)
		}
		got = nil
		d.List(ctx, "missing/", func(i Info) error { got = append(got, i.Key); return nil })
		if len(got) != 0 {
			t.Fatalf("%v", got)
		}
	})
	if m, ok := d.(Mover); ok {
		t.Run("move", func(t *testing.T) {
			d.Put(ctx, "mv/src", bytes.NewReader([]byte("moved")), Cond{})
			if err := m.Move(ctx, "mv/src", "mv/deep/dst"); err != nil {
				t.Fatal(err)
			}
			if _, err := d.Stat(ctx, "mv/src"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("source still there: %v", err)
			}
			rd, err := d.Open(ctx, "mv/deep/dst")
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(rd)
			rd.Close()
			if string(b) != "moved" {
				t.Fatalf("%q", b)
			}
			if err := m.Move(ctx, "mv/none", "mv/x"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("missing source: %v", err)
			}
		})
	}
	t.Run("delete", func(t *testing.T) {
		d.Put(ctx, "del/x", bytes.NewReader(nil), Cond{})
		if err := d.Delete(ctx, "del/x"); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Stat(ctx, "del/x"); !errors.Is(err, ErrNotFound) {
			t.Fatal(err)
		}
	})
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func TestDrivers(t *testing.T) {
	fs, err := NewFS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Run("fs", func(t *testing.T) { testDriver(t, fs) })
}

func TestFSLock(t *testing.T) {
	fs, _ := NewFS(t.TempDir())
	ctx := context.Background()
	un1, err := fs.Lock(ctx, "gc", false)
	if err != nil {
		t.Fatal(err)
	}
	un2, err := fs.Lock(ctx, "gc", false) // shared locks coexist
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan struct{})
	go func() {
		un, err := fs.Lock(ctx, "gc", true)
		if err == nil {
			un()
		}
		close(got)
	}()
	time.Sleep(50 * time.Millisecond) // give the goroutine time to try
	select {
	case <-got:
		t.Fatal("exclusive lock taken while shared locks are held")
	default:
	}
	un1()
	un2()
	<-got
	if _, err := fs.Lock(ctx, "../x", true); err == nil {
		t.Fatal("lock name with a path accepted")
	}
}

func FuzzValidKey(f *testing.F) {
	for _, s := range []string{"a/b", "../x", "a/./b", ".x", "blobs/sha256/ab/abcd", "a\x00b", "0.."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		if !ValidKey(key) {
			return
		}
		for _, seg := range strings.Split(key, "/") {
			if seg == "" || seg == "." || seg == ".." || seg[0] == '.' || strings.ContainsAny(seg, "\x00\\") {
				t.Fatalf("accepted %q", key)
			}
		}
		if filepath.Clean("/"+key) != "/"+key {
			t.Fatalf("accepted unclean %q", key)
		}
	})
}
