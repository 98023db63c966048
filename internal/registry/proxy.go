package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// Upstream is the registry a pull-through cache fills itself from
// (registry:2's proxy.remoteurl). The registry client's remote.Upstream
// implements it; the server only asks for bytes, and verifies every one of them.
type Upstream interface {
	// Manifest fetches repository repo's manifest by tag or digest: its
	// bytes and media type. A missing one is an error wrapping
	// ErrUpstreamNotFound (or one whose NotFound method says so).
	Manifest(ctx context.Context, repo, ref string) ([]byte, string, error)
	// Blob opens repo's blob by digest.
	Blob(ctx context.Context, repo, digest string) (io.ReadCloser, error)
	// Tags lists repo's tags.
	Tags(ctx context.Context, repo string) ([]string, error)
}

// ErrUpstreamNotFound is what an Upstream wraps when it does not have the
// manifest or blob: the client gets the registry's own "unknown" error.
// An error may instead say so with a NotFound() bool method (the registry
// client's do), so that an Upstream need not import this package.
var ErrUpstreamNotFound = errors.New("not found upstream")

// upstreamNotFound reports whether an Upstream's err says it has no such
// thing (as opposed to not answering).
func upstreamNotFound(err error) bool {
	var nf interface{ NotFound() bool }
	return errors.Is(err, ErrUpstreamNotFound) || errors.As(err, &nf) && nf.NotFound()
}

// proxyManifest fetches name's manifest ref from upstream, verifies it and
// stores it (and, for a tag, the tag), so later pulls are served locally.
// Its blobs are fetched when they are asked for.
func (s *Server) proxyManifest(ctx context.Context, name string, d digest, tag string) error {
	ref := tag
	if ref == "" {
		ref = d.String()
	}
	body, mt, err := s.opts.Upstream.Manifest(ctx, name, ref)
	if upstreamNotFound(err) {
		return errManifestUnknown()
	}
	if err != nil {
		return fmt.Errorf("fetching manifest %s:%s from upstream: %w", name, ref, err)
	}
	if len(body) > maxManifestSize {
		return errTooLarge("MANIFEST_INVALID", "upstream manifest exceeds 4 MiB")
	}
	if tag != "" {
		d = digestOf("sha256", body)
	} else if got := digestOf(d.alg, body); got != d {
		return fmt.Errorf("upstream sent manifest %s with digest %s", d, got)
	}
	e, err := checkManifest(body, mt)
	if err != nil {
		return err
	}
	ctx, unlock, err := s.commitGuard(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	var tags []string
	if tag != "" {
		tags = []string{tag}
	}
	return s.storeManifest(ctx, name, d, body, e.entry, tags)
}

// proxyBlob fetches name's blob d from upstream into storage (verified
// against d on the way, as a push is) and links it into the repository.
func (s *Server) proxyBlob(ctx context.Context, name string, d digest) error {
	rc, err := s.opts.Upstream.Blob(ctx, name, d.String())
	if upstreamNotFound(err) {
		return errBlobUnknown()
	}
	if err != nil {
		return fmt.Errorf("fetching blob %s from upstream: %w", d, err)
	}
	defer rc.Close()
	if _, err := s.commitBlob(ctx, name, d, rc); err != nil {
		return err
	}
	return nil
}

// isUnknown reports whether err says the upstream does not have the thing
// (as opposed to not answering): a tag deleted upstream is not served from
// the cache.
func isUnknown(err error) bool {
	var ae *apiError
	return errors.As(err, &ae) && (ae.Code == "MANIFEST_UNKNOWN" || ae.Code == "BLOB_UNKNOWN")
}
