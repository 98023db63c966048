package registry

// The storage layout, in one place. Every key is built here, from a name that
// validName accepted and a digest that parseDigest accepted, so no request
// text reaches the driver unchecked.
//
//	blobs/<alg>/<hex[0:2]>/<hex>            blob bytes, manifests included; shared by all repositories
//	repositories/<name>/_links/<alg>/<hex>  empty object: the blob was pushed to (or mounted into) <name>
//	repositories/<name>/_meta.json          tags and manifests of <name> (repoMeta), updated by conditional writes
//	repositories.json                       the catalog: sorted repository names, updated by conditional writes
//	uploads/<id>/state.json                 an upload session (uploadState)
//	uploads/<id>/<offset>-<nonce>           the session's chunks, one object per PATCH, named by start offset
//	                                        and a nonce, so that racing PATCHes never write the same object
//	gc/lease.json                           the GC lease on storage without locks (lease.go)
//	gc/conditional-probe                    written by a collector to check that conditional writes hold
//
// Repository name components begin with [a-z0-9], so "_links" and "_meta.json"
// can never collide with a nested repository.

func blobKey(d digest) string { return "blobs/" + d.alg + "/" + d.hex[:2] + "/" + d.hex }

func linkKey(name string, d digest) string {
	return "repositories/" + name + "/_links/" + d.alg + "/" + d.hex
}

func metaKey(name string) string { return "repositories/" + name + "/_meta.json" }

const catalogKey = "repositories.json"

func uploadStateKey(id string) string { return "uploads/" + id + "/state.json" }

func uploadPartKey(id string, p uploadPart) string {
	return "uploads/" + id + "/" + padOffset(p.Offset) + "-" + p.Nonce
}

// padOffset gives part names that sort in offset order.
func padOffset(n int64) string {
	s := itoa(n)
	for len(s) < 16 {
		s = "0" + s
	}
	return s
}

func itoa(n int64) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	neg := n < 0
	if neg {
		n = -n
	}
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}
