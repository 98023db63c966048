package fsutil

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// dirs are the file systems the direct writer is tried on: the test's temp
// directory (ext4 here: O_DIRECT) and /dev/shm (tmpfs: O_DIRECT refused on
// older kernels, the fallback), when present.
func directDirs(t *testing.T) map[string]string {
	dirs := map[string]string{"tempdir": t.TempDir()}
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		d, err := os.MkdirTemp("/dev/shm", "berth-direct-")
		if err == nil {
			t.Cleanup(func() { os.RemoveAll(d) })
			dirs["shm"] = d
		}
	}
	return dirs
}

// The file holds exactly the bytes written, whatever the sizes of the
// writes, where the file started and whether the caller read into Buffer.
func TestDirectWriterContent(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for name, dir := range directDirs(t) {
		for _, tc := range []struct {
			name   string
			start  int // bytes already in the file (a resumed download)
			size   int
			pieces []int // write sizes, cycled; 0: read into Buffer
		}{
			{"empty", 0, 0, []int{1}},
			{"one byte", 0, 1, []int{1}},
			{"one block", 0, 4096, []int{4096}},
			{"chunk minus one", 0, directChunkSize - 1, []int{65536}},
			{"exact chunk", 0, directChunkSize, []int{0}},
			{"chunk plus one", 0, directChunkSize + 1, []int{0}},
			{"odd writes", 0, 3*directChunkSize + 12345, []int{1, 7000, 65537, 3 << 20, 13}},
			{"into the buffer", 0, 5*directChunkSize + 999, []int{0}},
			{"mixed", 0, 4*directChunkSize + 5, []int{0, 333, 0, 1 << 20}},
			{"resumed aligned", 8192, 2*directChunkSize + 77, []int{0, 4000}},
			{"resumed unaligned", 100, 2*directChunkSize + 77, []int{0, 4000}},
			{"resumed near a chunk", directChunkSize - 1, directChunkSize + 2, []int{0}},
		} {
			t.Run(name+"/"+tc.name, func(t *testing.T) {
				want := make([]byte, tc.start+tc.size)
				for i := range want {
					want[i] = byte(rng.Uint32())
				}
				path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-"))
				if err := os.WriteFile(path, want[:tc.start], 0o600); err != nil {
					t.Fatal(err)
				}
				f, err := os.OpenFile(path, os.O_RDWR, 0)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				w := NewDirectWriter(f, int64(tc.start))
				rest := want[tc.start:]
				for i := 0; len(rest) > 0; i++ {
					n := tc.pieces[i%len(tc.pieces)]
					var p []byte
					if n == 0 {
						b := w.Buffer()
						k := copy(b, rest[:min(len(rest), len(b), 50000)])
						p = b[:k]
					} else {
						p = rest[:min(n, len(rest))]
					}
					if k, err := w.Write(p); err != nil || k != len(p) {
						t.Fatalf("Write = %d, %v", k, err)
					}
					rest = rest[len(p):]
				}
				if err := w.Finish(); err != nil {
					t.Fatal(err)
				}
				got, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("file has %d bytes, want %d; equal prefix %d", len(got), len(want), commonPrefix(got, want))
				}
			})
		}
	}
}

func commonPrefix(a, b []byte) int {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	return i
}

// Close keeps every byte accepted (an interrupted download resumes from
// all it got); Abort keeps only the full chunks, already written: a
// a prefix.
func TestDirectWriterCloseAbort(t *testing.T) {
	data := bytes.Repeat([]byte("berth!"), (2*directChunkSize+5000)/6)
	for name, dir := range directDirs(t) {
		t.Run(name, func(t *testing.T) {
			for _, abort := range []bool{false, true} {
				path := filepath.Join(dir, "f")
				f, err := os.Create(path)
				if err != nil {
					t.Fatal(err)
				}
				w := NewDirectWriter(f, 0)
				if _, err := w.Write(data); err != nil {
					t.Fatal(err)
				}
				if abort {
					w.Abort()
				} else if err := w.Close(); err != nil {
					t.Fatal(err)
				}
				f.Close()
				got, _ := os.ReadFile(path)
				switch {
				case !abort && !bytes.Equal(got, data):
					t.Fatalf("after Close the file has %d bytes, want all %d", len(got), len(data))
				case abort && (len(got) != 2*directChunkSize || !bytes.Equal(got, data[:len(got)])):
					t.Fatalf("after Abort the file has %d bytes, want the %d of the full chunks", len(got), 2*directChunkSize)
				}
			}
		})
	}
}

// A disk write that fails (here: a descriptor open for reading only) is
// reported by a later Write or by Finish, never lost.
func TestDirectWriterError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ro")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := NewDirectWriter(f, 0)
	var werr error
	for range 4 {
		if _, werr = w.Write(make([]byte, directChunkSize)); werr != nil {
			break
		}
	}
	ferr := w.Finish()
	if werr == nil && ferr == nil {
		t.Fatal("writes to a read-only descriptor reported no error")
	}
	if ferr == nil {
		t.Fatal("Finish after a failed write reported no error")
	}
}
