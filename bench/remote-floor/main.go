// Command remote-floor measures the floor under a pull on this machine: it
// GETs an image's manifest and then every blob from a plain-HTTP registry,
// JOBS at a time, streaming each into a file while hashing it with sha256,
// fsyncs and renames it — what any client that verifies and keeps the
// bytes must do, and nothing else (no decompression, no bookkeeping).
// With -direct the files are written with O_DIRECT from 1 MiB aligned
// buffers (the tail without it), which skips the page cache as berth's
// pull does.
//
//	remote-floor -ref 127.0.0.1:5391/bench/img:v1 -o DIR [-jobs 3] [-direct]
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sys/unix"
)

func main() {
	ref := flag.String("ref", "", "HOST:PORT/REPO:TAG")
	out := flag.String("o", "", "directory for the blobs")
	jobs := flag.Int("jobs", 3, "blobs downloaded at once")
	flag.BoolVar(&direct, "direct", false, "write with O_DIRECT")
	flag.Parse()
	if *ref == "" || *out == "" {
		fmt.Fprintln(os.Stderr, "usage: remote-floor -ref HOST:PORT/REPO:TAG -o DIR [-jobs N]")
		os.Exit(2)
	}
	start := time.Now()
	n, err := run(*ref, *out, *jobs)
	if err != nil {
		fmt.Fprintln(os.Stderr, "remote-floor:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "remote-floor: %d bytes in %.3f s\n", n, time.Since(start).Seconds())
}

var direct bool

type manifest struct {
	Config struct {
		Digest string `json:"digest"`
	} `json:"config"`
	Layers []struct {
		Digest string `json:"digest"`
	} `json:"layers"`
}

func run(ref, out string, jobs int) (int64, error) {
	host, rest, _ := strings.Cut(ref, "/")
	repo, tag, _ := strings.Cut(rest, ":")
	base := "http://" + host + "/v2/" + repo
	req, _ := http.NewRequest(http.MethodGet, base+"/manifests/"+tag, nil)
	req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	var m manifest
	err = json.NewDecoder(resp.Body).Decode(&m)
	resp.Body.Close()
	if err != nil {
		return 0, err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return 0, err
	}
	digests := []string{m.Config.Digest}
	for _, l := range m.Layers {
		digests = append(digests, l.Digest)
	}
	sizes := make([]int64, len(digests))
	var g errgroup.Group
	g.SetLimit(jobs)
	for i, d := range digests {
		g.Go(func() error {
			n, err := fetch(base+"/blobs/"+d, d, out)
			sizes[i] = n
			return err
		})
	}
	err = g.Wait()
	var total int64
	for _, n := range sizes {
		total += n
	}
	return total, err
}

func fetch(url, digest, out string) (int64, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("%s: %s", url, resp.Status)
	}
	f, err := os.CreateTemp(out, "tmp-")
	if err != nil {
		return 0, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	h := sha256.New()
	var n int64
	if direct {
		n, err = copyDirect(f, h, resp.Body)
	} else {
		n, err = io.CopyBuffer(io.MultiWriter(f, h), resp.Body, make([]byte, 1<<20))
	}
	if err != nil {
		return n, err
	}
	if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != digest {
		return n, fmt.Errorf("%s: content has digest %s", digest, got)
	}
	if err := f.Sync(); err != nil {
		return n, err
	}
	return n, os.Rename(f.Name(), filepath.Join(out, strings.TrimPrefix(digest, "sha256:")))
}

// copyDirect reads r in 1 MiB chunks into an aligned buffer, hashes each
// and writes it with O_DIRECT; the last, unaligned chunk is written after
// O_DIRECT is cleared. One chunk at a time: the disk write and the network
// read do not overlap.
func copyDirect(f *os.File, h io.Writer, r io.Reader) (int64, error) {
	const chunk, align = 1 << 20, 4096
	raw := make([]byte, chunk+align)
	buf := raw[int(-uintptr(unsafe.Pointer(&raw[0]))&(align-1)):][:chunk]
	fd := int(f.Fd())
	flags, err := unix.FcntlInt(f.Fd(), unix.F_GETFL, 0)
	if err != nil {
		return 0, err
	}
	if _, err := unix.FcntlInt(f.Fd(), unix.F_SETFL, flags|unix.O_DIRECT); err != nil {
		return 0, err
	}
	var n int64
	for {
		k, rerr := io.ReadFull(r, buf)
		if k > 0 {
			h.Write(buf[:k])
			if k%align != 0 {
				if _, err := unix.FcntlInt(f.Fd(), unix.F_SETFL, flags); err != nil {
					return n, err
				}
			}
			if _, err := unix.Pwrite(fd, buf[:k], n); err != nil {
				return n, err
			}
			n += int64(k)
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			return n, nil
		}
		if rerr != nil {
			return n, rerr
		}
	}
}
