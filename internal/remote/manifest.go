package remote

import (
	"context"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Manifest fetches ref's manifest (an index or an image manifest) as the
// registry serves it, through everything a pull goes through, without
// storing anything: `berth buildx imagetools inspect` reads indexes and
// their attestation manifests this way. byDigest reads other manifests of
// the same repository (an index's children), each checked against its
// digest.
func (c *Client) Manifest(ctx context.Context, ref name.Reference) (raw []byte, desc v1.Descriptor, byDigest func(v1.Hash) ([]byte, error), err error) {
	err = c.tryCandidates(ctx, ref, func(repo name.Repository) error {
		host := repo.RegistryStr()
		shown := host + "/" + repo.RepositoryStr() + refSuffix(ref)
		f, ferr := c.fetcher(ctx, repo, transport.PullScope)
		if ferr != nil {
			return classify(ferr, "reading", host, shown)
		}
		r, d, merr := f.manifest(ctx, ref.Identifier())
		if merr != nil {
			return classify(merr, "reading", host, shown)
		}
		raw, desc = r, d
		byDigest = func(h v1.Hash) ([]byte, error) {
			// manifestOnce refuses content whose digest is not h.
			b, _, err := f.manifest(ctx, h.String())
			if err != nil {
				return nil, classify(err, "reading", host, shown+"@"+h.String())
			}
			return b, nil
		}
		return nil
	})
	return raw, desc, byDigest, err
}
