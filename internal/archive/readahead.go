package archive

import (
	"io"
	"sync"
)

// readAhead reads its source on its own goroutine, a few chunks ahead of the
// consumer, so that reading and decompressing the archive overlap with
// hashing and writing the blobs it holds. Memory: chunks × chunkSize.
type readAhead struct {
	full  chan chunk
	free  chan []byte
	stop  chan struct{}
	once  sync.Once
	base  []byte // the chunk being consumed, returned to free when done
	cur   []byte // its unread part
	err   error
	ended chan struct{}
}

type chunk struct {
	b   []byte
	err error
}

const (
	readAheadChunks = 4
	readAheadSize   = 1 << 20
)

func newReadAhead(r io.Reader) *readAhead {
	ra := &readAhead{
		full:  make(chan chunk, readAheadChunks),
		free:  make(chan []byte, readAheadChunks),
		stop:  make(chan struct{}),
		ended: make(chan struct{}),
	}
	for i := 0; i < readAheadChunks; i++ {
		ra.free <- make([]byte, readAheadSize)
	}
	go ra.fill(r)
	return ra
}

func (ra *readAhead) fill(r io.Reader) {
	defer close(ra.ended)
	for {
		var b []byte
		select {
		case b = <-ra.free:
		case <-ra.stop:
			return
		}
		n, err := fillBuffer(r, b[:cap(b)])
		select {
		case ra.full <- chunk{b[:n], err}:
		case <-ra.stop:
			return
		}
		if err != nil {
			return
		}
	}
}

func (ra *readAhead) Read(p []byte) (int, error) {
	for len(ra.cur) == 0 {
		if ra.base != nil {
			ra.free <- ra.base
			ra.base = nil
		}
		if ra.err != nil {
			return 0, ra.err
		}
		c := <-ra.full
		ra.base, ra.cur, ra.err = c.b[:cap(c.b)], c.b, c.err
	}
	n := copy(p, ra.cur)
	ra.cur = ra.cur[n:]
	return n, nil
}

// fillBuffer reads until b is full or r fails, keeping r's error as it is
// (io.ReadFull would turn a short final read into io.ErrUnexpectedEOF,
// which the tar reader must be able to tell from a truncated stream).
func fillBuffer(r io.Reader, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := r.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// Close stops the reading goroutine and waits for it, so that the source
// may be closed after.
func (ra *readAhead) Close() error {
	ra.once.Do(func() { close(ra.stop) })
	<-ra.ended
	return nil
}
