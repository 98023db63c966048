package storagetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sort"
	"sync"
	"testing"

	"github.com/berth-dev/berth/internal/registry/storage"
)

// Options tune the suite to a driver's costs.
type Options struct {
	// Large is the size of the object written to check streaming writes
	// and range reads across part boundaries (default 1 MiB; an object
	// store's suite uses more than its multipart part size).
	Large int64
}

// Run is the contract every storage.Driver must pass, and what it really
// requires of a store: objects that appear whole or not at all (a failed
// reader leaves nothing), sizes known on Put, an ETag that changes when the
// content does, conditional writes that lose no update under concurrency,
// Delete of a missing key reporting storage.ErrNotFound, range reads through Seek,
// listing by prefix, and the optional interfaces when the driver has them
// (storage.Mover, Composer, Redirector). Each driver's tests call it on a fresh,
// empty store.
func Run(t *testing.T, d storage.Driver, o Options) {
	if o.Large == 0 {
		o.Large = 1 << 20
	}
	ctx := context.Background()
	t.Run("put stat open", func(t *testing.T) {
		info, err := d.Put(ctx, "a/b/c", bytes.NewReader([]byte("hello")), storage.Cond{})
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
		if _, err := d.Stat(ctx, "nope"); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("stat: %v", err)
		}
		if _, err := d.Open(ctx, "nope/x"); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("open: %v", err)
		}
		if err := d.Delete(ctx, "nope"); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("delete: %v", err)
		}
		if _, err := d.Stat(ctx, "a/b/c/d"); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("below a file: %v", err)
		}
	})
	t.Run("invalid keys", func(t *testing.T) {
		for _, k := range []string{"", "../x", "a/../b", "/abs", "a//b", ".hidden", "a/.tmp-1", "sp ace", "a/"} {
			if _, err := d.Put(ctx, k, bytes.NewReader(nil), storage.Cond{}); !errors.Is(err, storage.ErrInvalidKey) {
				t.Errorf("%q: %v", k, err)
			}
		}
	})
	t.Run("failed reader leaves nothing", func(t *testing.T) {
		boom := errors.New("boom")
		_, err := d.Put(ctx, "fail/x", io.MultiReader(bytes.NewReader([]byte("part")), errReader{boom}), storage.Cond{})
		if !errors.Is(err, boom) {
			t.Fatalf("%v", err)
		}
		if _, err := d.Stat(ctx, "fail/x"); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("partial object visible: %v", err)
		}
		n := 0
		d.List(ctx, "fail/", func(storage.Info) error { n++; return nil })
		if n != 0 {
			t.Fatalf("%d leftovers listed", n)
		}
	})
	t.Run("conditional writes", func(t *testing.T) {
		i1, err := d.Put(ctx, "cond", bytes.NewReader([]byte("1")), storage.Cond{IfNoneMatch: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := d.Put(ctx, "cond", bytes.NewReader([]byte("2")), storage.Cond{IfNoneMatch: true}); !errors.Is(err, storage.ErrPrecondition) {
			t.Fatalf("create over existing: %v", err)
		}
		i2, err := d.Put(ctx, "cond", bytes.NewReader([]byte("2")), storage.Cond{IfMatch: i1.ETag})
		if err != nil || i2.ETag == i1.ETag {
			t.Fatalf("%v %v", i2, err)
		}
		if _, err := d.Put(ctx, "cond", bytes.NewReader([]byte("3")), storage.Cond{IfMatch: i1.ETag}); !errors.Is(err, storage.ErrPrecondition) {
			t.Fatalf("stale etag: %v", err)
		}
	})
	t.Run("concurrent compare-and-swap loses no update", func(t *testing.T) {
		d.Put(ctx, "counter", bytes.NewReader([]byte{0}), storage.Cond{})
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
						_, err := d.Put(ctx, "counter", bytes.NewReader([]byte{b[0] + 1}), storage.Cond{IfMatch: info.ETag})
						if err == nil {
							break
						}
						if !errors.Is(err, storage.ErrPrecondition) {
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
			d.Put(ctx, k, bytes.NewReader([]byte(k)), storage.Cond{})
		}
		var got []string
		if err := d.List(ctx, "l/x/", func(i storage.Info) error { got = append(got, i.Key); return nil }); err != nil {
			t.Fatal(err)
		}
		sort.Strings(got)
		if len(got) != 2 || got[0] != "l/x/1" || got[1] != "l/x/2" {
			t.Fatalf("%v", got)
		}
		got = nil
		d.List(ctx, "missing/", func(i storage.Info) error { got = append(got, i.Key); return nil })
		if len(got) != 0 {
			t.Fatalf("%v", got)
		}
	})
	if m, ok := d.(storage.Mover); ok {
		t.Run("move", func(t *testing.T) {
			d.Put(ctx, "mv/src", bytes.NewReader([]byte("moved")), storage.Cond{})
			if err := m.Move(ctx, "mv/src", "mv/deep/dst"); err != nil {
				t.Fatal(err)
			}
			if _, err := d.Stat(ctx, "mv/src"); !errors.Is(err, storage.ErrNotFound) {
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
			if err := m.Move(ctx, "mv/none", "mv/x"); !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("missing source: %v", err)
			}
		})
	}
	t.Run("delete", func(t *testing.T) {
		d.Put(ctx, "del/x", bytes.NewReader(nil), storage.Cond{})
		if err := d.Delete(ctx, "del/x"); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Stat(ctx, "del/x"); !errors.Is(err, storage.ErrNotFound) {
			t.Fatal(err)
		}
	})
	t.Run("etag changes with the content, size known on put", func(t *testing.T) {
		a, err := d.Put(ctx, "etag/x", bytes.NewReader([]byte("one")), storage.Cond{})
		if err != nil || a.Size != 3 {
			t.Fatalf("%+v %v", a, err)
		}
		b, err := d.Put(ctx, "etag/x", bytes.NewReader([]byte("two!")), storage.Cond{})
		if err != nil || b.Size != 4 || b.ETag == a.ETag {
			t.Fatalf("replaced object: %+v (was %+v) %v", b, a, err)
		}
		if st, _ := d.Stat(ctx, "etag/x"); st.ETag != b.ETag || st.Size != 4 {
			t.Fatalf("stat %+v after put %+v", st, b)
		}
	})
	t.Run("large objects stream and read by range", func(t *testing.T) {
		data := pattern(o.Large + 12345)
		info, err := d.Put(ctx, "big/x", onlyReader{bytes.NewReader(data)}, storage.Cond{IfNoneMatch: true})
		if err != nil || info.Size != int64(len(data)) || info.ETag == "" {
			t.Fatalf("%+v %v", info, err)
		}
		if st, err := d.Stat(ctx, "big/x"); err != nil || st.Size != int64(len(data)) || st.ETag != info.ETag {
			t.Fatalf("stat %+v %v, put %+v", st, err, info)
		}
		rd, err := d.Open(ctx, "big/x")
		if err != nil {
			t.Fatal(err)
		}
		defer rd.Close()
		for _, off := range []int64{0, 1, o.Large - 7, int64(len(data)) - 100, o.Large / 2} {
			if _, err := rd.Seek(off, io.SeekStart); err != nil {
				t.Fatal(err)
			}
			got := make([]byte, min(1000, int64(len(data))-off))
			if _, err := io.ReadFull(rd, got); err != nil {
				t.Fatalf("read at %d: %v", off, err)
			}
			if !bytes.Equal(got, data[off:off+int64(len(got))]) {
				t.Fatalf("wrong bytes at %d", off)
			}
		}
		if end, err := rd.Seek(0, io.SeekEnd); err != nil || end != int64(len(data)) {
			t.Fatalf("seek to end: %d %v", end, err)
		}
		rd.Seek(0, io.SeekStart)
		h := sha256.New()
		if n, err := io.Copy(h, rd); err != nil || n != int64(len(data)) || !bytes.Equal(h.Sum(nil), sum(data)) {
			t.Fatalf("whole read: %d %v", n, err)
		}
		// A failing reader after several parts leaves nothing either.
		boom := errors.New("boom")
		_, err = d.Put(ctx, "big/fail", io.MultiReader(bytes.NewReader(data), errReader{boom}), storage.Cond{})
		if !errors.Is(err, boom) {
			t.Fatalf("failed large put: %v", err)
		}
		if _, err := d.Stat(ctx, "big/fail"); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("partial large object visible: %v", err)
		}
		// A conditional multipart write loses to an existing object.
		if _, err := d.Put(ctx, "big/x", bytes.NewReader(data), storage.Cond{IfNoneMatch: true}); !errors.Is(err, storage.ErrPrecondition) {
			t.Fatalf("large create over existing: %v", err)
		}
	})
	if c, ok := d.(storage.Composer); ok {
		t.Run("compose", func(t *testing.T) {
			// Chunks as clients send them: some far below an object store's
			// 5 MiB part minimum, some above it, in any order.
			sizes := []int64{100, 6 << 20, 3 << 20, 1, 7 << 20, 2 << 20}
			var want []byte
			var srcs []storage.Info
			for i, n := range sizes {
				b := pattern(n + int64(i))
				want = append(want, b...)
				info, err := d.Put(ctx, fmt.Sprintf("compose/part%d", i), bytes.NewReader(b), storage.Cond{})
				if err != nil {
					t.Fatal(err)
				}
				srcs = append(srcs, info)
			}
			info, err := c.Compose(ctx, "compose/whole", srcs)
			if err != nil || info.Size != int64(len(want)) {
				t.Fatalf("%+v %v", info, err)
			}
			if got := readAll(t, d, "compose/whole"); !bytes.Equal(got, want) {
				t.Fatalf("composed %d bytes, want %d, contents differ", len(got), len(want))
			}
			one, err := c.Compose(ctx, "compose/one", srcs[:1])
			if err != nil || one.Size != sizes[0] || !bytes.Equal(readAll(t, d, "compose/one"), want[:sizes[0]]) {
				t.Fatalf("one source: %+v %v", one, err)
			}
			if _, err := c.Compose(ctx, "compose/none", []storage.Info{{Key: "compose/missing", Size: 1}}); err == nil {
				t.Fatal("composing a missing source succeeded")
			}
			if _, err := d.Stat(ctx, "compose/none"); !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("failed composition visible: %v", err)
			}
		})
	}
	if g, ok := d.(storage.Getter); ok {
		t.Run("get", func(t *testing.T) {
			info, _ := d.Put(ctx, "get/x", bytes.NewReader([]byte("small object")), storage.Cond{})
			b, gi, err := g.Get(ctx, "get/x", 100)
			if err != nil || string(b) != "small object" || gi.ETag != info.ETag || gi.Size != 12 {
				t.Fatalf("%q %+v %v (put %+v)", b, gi, err, info)
			}
			if _, _, err := g.Get(ctx, "get/x", 5); err == nil {
				t.Fatal("object above the limit read")
			}
			if _, _, err := g.Get(ctx, "get/none", 5); !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("missing: %v", err)
			}
		})
	}
	if r, ok := d.(storage.Redirector); ok {
		t.Run("redirect", func(t *testing.T) {
			d.Put(ctx, "redir/x", bytes.NewReader([]byte("direct")), storage.Cond{})
			u, err := r.RedirectURL(ctx, "redir/x", http.MethodGet)
			if err != nil {
				t.Fatal(err)
			}
			if u == "" {
				return // the driver serves this one itself
			}
			res, err := http.Get(u)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != 200 || string(b) != "direct" {
				t.Fatalf("GET of the redirect URL: %d %q", res.StatusCode, b)
			}
		})
	}
}

func readAll(t *testing.T, d storage.Driver, key string) []byte {
	t.Helper()
	rd, err := d.Open(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	b, err := io.ReadAll(rd)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// pattern is n bytes that differ at every offset a bug could confuse.
func pattern(n int64) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(uint64(n), 7))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func sum(b []byte) []byte { s := sha256.Sum256(b); return s[:] }

// onlyReader hides everything but Read (no WriterTo, Seek or Len), as a
// request body does.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }
