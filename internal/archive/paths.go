package archive

import (
	"fmt"
	"github.com/berth-dev/berth/internal/untrusted"
	"path"
	"strings"

	"github.com/berth-dev/berth/internal/fsutil"
)

// Files every archive format names at its root.
const (
	manifestFile     = "manifest.json" // Docker's list of images (every docker load reads it)
	repositoriesFile = "repositories"  // Docker's pre-1.10 name map, still written for old readers
	indexFile        = "index.json"    // OCI image layout: the reference index
	layoutFile       = "oci-layout"    // OCI image layout: version marker
	blobsDir         = "blobs"
	legacyLayerFile  = "layer.tar" // "<id>/layer.tar", a layer of Docker's v1 format
)

// cleanName checks a tar entry name with fsutil's rules, stricter than a
// layer's: no absolute names (CheckTarPath), and no backslashes, which some
// readers take for separators; it returns fsutil.CleanTarName's form
// (relative, without "./" or a trailing slash), the one manifest.json and
// index.json use.
func cleanName(name string) (string, error) {
	if err := fsutil.CheckTarPath(name); err != nil {
		return "", err
	}
	if strings.Contains(name, "\\") {
		return "", fmt.Errorf("entry %s contains a backslash", untrusted.Quote(name))
	}
	return fsutil.CleanTarName(name)
}

// linkTarget resolves the target of a link entry to a path relative to the
// archive root, refusing targets outside it. Symbolic link targets are
// relative to the link's directory; hard link targets (tar TypeLink) name
// another entry from the root.
func linkTarget(name, target string, symbolic bool) (string, error) {
	if err := fsutil.CheckLinkTarget(name, target, !symbolic); err != nil {
		return "", err
	}
	if strings.ContainsAny(target, "\\\x00") {
		return "", fmt.Errorf("link %s has a bad target %s", untrusted.Quote(name), untrusted.Quote(target))
	}
	if symbolic {
		return path.Join(path.Dir(name), target), nil
	}
	return path.Clean(target), nil
}

// blobPath is where an OCI image layout keeps the blob with digest d.
func blobPath(algorithm, hex string) string {
	return blobsDir + "/" + algorithm + "/" + hex
}

// parseBlobPath recognises "blobs/<algorithm>/<hex>". ok is false for any
// other name; err is set for names under blobs/ that cannot be a digest.
func parseBlobPath(name string) (algorithm, hex string, ok bool, err error) {
	rest, found := strings.CutPrefix(name, blobsDir+"/")
	if !found {
		return "", "", false, nil
	}
	algorithm, hex, found = strings.Cut(rest, "/")
	if !found {
		return "", "", false, nil // a directory such as blobs/sha256
	}
	if algorithm != "sha256" {
		return "", "", true, fmt.Errorf("blob %s: unsupported digest algorithm %s (only sha256)", untrusted.Quote(name), untrusted.Quote(algorithm))
	}
	if !isHex64(hex) {
		return "", "", true, fmt.Errorf("blob %s: not a sha256 digest", untrusted.Quote(name))
	}
	return algorithm, hex, true, nil
}

func isHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
