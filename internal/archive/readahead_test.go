package archive

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

func TestReadAhead(t *testing.T) {
	boom := errors.New("boom")
	for _, tc := range []struct {
		name string
		size int
		err  error // returned by the source after its data
	}{
		{"empty", 0, nil},
		{"one-byte", 1, nil},
		{"one-chunk", readAheadSize, nil},
		{"chunk-plus-one", readAheadSize + 1, nil},
		{"many-chunks", 5*readAheadSize + 3, nil},
		{"error-after-data", 2*readAheadSize + 7, boom},
		{"unexpected-eof-kept", 100, io.ErrUnexpectedEOF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := make([]byte, tc.size)
			for i := range data {
				data[i] = byte(i * 7)
			}
			var src io.Reader = iotest.HalfReader(bytes.NewReader(data))
			if tc.err != nil {
				src = io.MultiReader(src, iotest.ErrReader(tc.err))
			}
			ra := newReadAhead(src)
			defer ra.Close()
			got, err := io.ReadAll(iotest.OneByteReader(io.LimitReader(ra, 1<<40)))
			if tc.err == nil && err != nil || tc.err != nil && !errors.Is(err, tc.err) {
				t.Fatalf("error %v, want %v", err, tc.err)
			}
			if !bytes.Equal(got, data) {
				t.Fatalf("read %d bytes, differing from the %d written", len(got), len(data))
			}
		})
	}
	t.Run("close-early", func(t *testing.T) {
		ra := newReadAhead(bytes.NewReader(make([]byte, 10*readAheadSize)))
		buf := make([]byte, 10)
		if _, err := ra.Read(buf); err != nil {
			t.Fatal(err)
		}
		ra.Close() // must not hang with the filler blocked on a full queue
	})
}
