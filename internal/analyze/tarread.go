package analyze

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// tarReader is a lean reader of the tar formats layers use (POSIX ustar,
// PAX extended headers, GNU long names, V7), for analysis only: it returns
// each entry's metadata and streams its content, and builds one string per
// name where archive/tar builds a Header with a dozen fields. On a layer of
// 50,000 small files it is what makes berth dive faster than dive. It is
// fuzzed against archive/tar (FuzzTarReaderMatchesArchiveTar).
type tarReader struct {
	r      *bufio.Reader
	blk    [blockSize]byte
	remain int64 // content bytes of the current entry not yet read
	pad    int64 // padding after the content
}

const (
	blockSize = 512
	// maxMetaEntry bounds PAX and GNU long-name entries read into memory.
	maxMetaEntry = 1 << 20
)

var errBadHeader = errors.New("invalid tar header")

// tarEntry is what the analysis needs of one tar header.
type tarEntry struct {
	Name     string
	Linkname string
	Type     byte
	Size     int64 // as declared (content length for types that carry content)
	Mode     int64
	UID, GID int
}

func newTarReader(r io.Reader) *tarReader {
	br, ok := r.(*bufio.Reader)
	if !ok || br.Size() < 64<<10 {
		br = bufio.NewReaderSize(r, 256<<10)
	}
	return &tarReader{r: br}
}

// Read reads the current entry's content.
func (t *tarReader) Read(p []byte) (int, error) {
	if t.remain <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > t.remain {
		p = p[:t.remain]
	}
	n, err := t.r.Read(p)
	t.remain -= int64(n)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

func (t *tarReader) skip(n int64) error {
	if n <= 0 {
		return nil
	}
	m, err := t.r.Discard(int(min(n, 1<<30)))
	for err == nil && int64(m) < n {
		var k int
		k, err = t.r.Discard(int(min(n-int64(m), 1<<30)))
		m += k
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// next skips what is left of the current entry and returns the next one,
// with PAX and GNU long-name entries folded into it. io.EOF ends the archive.
func (t *tarReader) next() (*tarEntry, error) {
	var pax map[string]string
	var longName, longLink string
	for {
		if err := t.skip(t.remain + t.pad); err != nil {
			return nil, err
		}
		t.remain, t.pad = 0, 0
		if _, err := io.ReadFull(t.r, t.blk[:]); err != nil {
			if err == io.EOF && pax == nil && longName == "" && longLink == "" {
				return nil, io.EOF
			}
			return nil, io.ErrUnexpectedEOF
		}
		if isZero(t.blk[:]) {
			// The end: a second zero block, or nothing, must follow.
			if _, err := io.ReadFull(t.r, t.blk[:]); err == io.EOF {
				return nil, io.EOF
			} else if err != nil {
				return nil, io.ErrUnexpectedEOF
			}
			if !isZero(t.blk[:]) {
				return nil, errBadHeader
			}
			return nil, io.EOF
		}
		e, err := t.parseHeader()
		if err != nil {
			return nil, err
		}
		t.remain = e.Size
		switch e.Type {
		case '1', '2', '3', '4', '5', '6':
			t.remain = 0 // header-only types carry no content whatever the size says
		}
		t.pad = -t.remain & (blockSize - 1)
		switch e.Type {
		case 'x':
			data, err := t.readMeta()
			if err != nil {
				return nil, err
			}
			if pax, err = parsePAX(data); err != nil {
				return nil, err
			}
			continue
		case 'g':
			if _, err := t.readMeta(); err != nil {
				return nil, err
			}
			continue
		case 'L', 'K':
			data, err := t.readMeta()
			if err != nil {
				return nil, err
			}
			s := string(cString(data))
			if e.Type == 'L' {
				longName = s
			} else {
				longLink = s
			}
			continue
		}
		if longName != "" {
			e.Name = longName
		}
		if longLink != "" {
			e.Linkname = longLink
		}
		if err := applyPAX(e, pax); err != nil {
			return nil, err
		}
		t.remain = e.Size
		switch e.Type {
		case '1', '2', '3', '4', '5', '6':
			t.remain = 0
		}
		t.pad = -t.remain & (blockSize - 1)
		if e.Type == 0 || e.Type == '0' {
			e.Type = '0'
			if strings.HasSuffix(e.Name, "/") {
				e.Type = '5'
			}
		}
		return e, nil
	}
}

func (t *tarReader) readMeta() ([]byte, error) {
	if t.remain > maxMetaEntry {
		return nil, fmt.Errorf("%w: extended header of %d bytes", errBadHeader, t.remain)
	}
	data := make([]byte, t.remain)
	if _, err := io.ReadFull(t.r, data); err != nil {
		return nil, io.ErrUnexpectedEOF
	}
	t.remain = 0
	return data, nil
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func cString(b []byte) []byte {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return b[:i]
	}
	return b
}

// parseHeader checks the checksum and decodes a ustar, GNU or V7 header.
func (t *tarReader) parseHeader() (*tarEntry, error) {
	b := t.blk[:]
	sum, ok := parseNumber(b[148:156])
	if !ok {
		return nil, errBadHeader
	}
	var unsigned, signed int64
	for i, c := range b {
		if i >= 148 && i < 156 {
			c = ' '
		}
		unsigned += int64(c)
		signed += int64(int8(c))
	}
	if sum != unsigned && sum != signed {
		return nil, errBadHeader
	}
	e := &tarEntry{Type: b[156]}
	name := cString(b[0:100])
	e.Linkname = string(cString(b[157:257]))
	var okMode, okUID, okGID, okSize bool
	e.Mode, okMode = parseNumber(b[100:108])
	uid, okUID := parseNumber(b[108:116])
	gid, okGID := parseNumber(b[116:124])
	e.Size, okSize = parseNumber(b[124:136])
	if !okMode || !okUID || !okGID || !okSize || e.Size < 0 {
		return nil, errBadHeader
	}
	e.UID, e.GID = int(uid), int(gid)
	magic := b[257:265]
	if bytes.Equal(magic[:6], []byte("ustar\x00")) {
		prefixEnd := 500
		if bytes.Equal(b[508:512], []byte("tar\x00")) {
			prefixEnd = 476 // star
		}
		if p := cString(b[345:prefixEnd]); len(p) > 0 {
			e.Name = string(p) + "/" + string(name)
			return e, nil
		}
	}
	e.Name = string(name)
	return e, nil
}

// parseNumber decodes a tar numeric field: octal text padded with spaces or
// NULs, or GNU base-256 when the high bit of the first byte is set.
func parseNumber(b []byte) (int64, bool) {
	if len(b) > 0 && b[0]&0x80 != 0 {
		// Base-256, two's complement; anything past 63 bits is refused.
		neg := b[0]&0x40 != 0
		var x uint64
		for i, c := range b {
			if i == 0 {
				c &= 0x7f
			}
			if neg {
				c ^= 0xff
				if i == 0 {
					c &= 0x7f
				}
			}
			if x>>56 != 0 {
				return 0, false
			}
			x = x<<8 | uint64(c)
		}
		if x>>63 != 0 {
			return 0, false
		}
		if neg {
			return -int64(x) - 1, true
		}
		return int64(x), true
	}
	// Trim spaces and NULs on both ends, as archive/tar does.
	i, j := 0, len(b)
	for i < j && (b[i] == ' ' || b[i] == 0) {
		i++
	}
	for j > i && (b[j-1] == ' ' || b[j-1] == 0) {
		j--
	}
	if i == j {
		return 0, true
	}
	var x int64
	for _, c := range cString(b[i:j]) {
		if c < '0' || c > '7' {
			return 0, false
		}
		if x > (1<<63-1)>>3 {
			return 0, false
		}
		x = x<<3 | int64(c-'0')
	}
	return x, true
}

// parsePAX decodes "LEN key=value\n" records.
func parsePAX(data []byte) (map[string]string, error) {
	m := map[string]string{}
	for len(data) > 0 {
		sp := bytes.IndexByte(data, ' ')
		if sp <= 0 {
			return nil, errBadHeader
		}
		n, err := strconv.Atoi(string(data[:sp]))
		if err != nil || n <= sp+1 || n > len(data) || data[n-1] != '\n' {
			return nil, errBadHeader
		}
		rec := data[sp+1 : n-1]
		data = data[n:]
		eq := bytes.IndexByte(rec, '=')
		if eq <= 0 {
			return nil, errBadHeader
		}
		m[string(rec[:eq])] = string(rec[eq+1:])
	}
	return m, nil
}

func applyPAX(e *tarEntry, pax map[string]string) error {
	for k, v := range pax {
		switch k {
		case "path":
			e.Name = v
		case "linkpath":
			e.Linkname = v
		case "size":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				return errBadHeader
			}
			e.Size = n
		case "uid", "gid":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return errBadHeader
			}
			if k == "uid" {
				e.UID = int(n)
			} else {
				e.GID = int(n)
			}
		}
	}
	return nil
}
