package archive

import (
	"errors"
	"fmt"
	"path"
	"strings"
)

// Files every archive format names at its root.
const (
	manifestFile     = "manifest.json" // Docker's list of images (every docker load reads it)
	repositoriesFile = "repositories"  // Docker's pre-1.10 name map, still written for old readers
	indexFile        = "index.json"    // OCI image layout: the reference index
	layoutFile       = "oci-layout"    // OCI image layout: version marker
	blobsDir         = "blobs"
)

var errBadName = errors.New("bad entry name")

// cleanName checks a tar entry name and returns it relative to the archive
// root without "./" or a trailing slash. It refuses what could name something
// outside the archive or be read two ways: absolute names, ".." elements,
// backslashes, NUL bytes and empty names.
func cleanName(name string) (string, error) {
	if name == "" || strings.ContainsAny(name, "\x00\\") {
		return "", fmt.Errorf("%w %q", errBadName, name)
	}
	if strings.HasPrefix(name, "/") {
		return "", fmt.Errorf("%w %q: absolute path", errBadName, name)
	}
	for _, el := range strings.Split(name, "/") {
		if el == ".." {
			return "", fmt.Errorf("%w %q: \"..\" element", errBadName, name)
		}
	}
	c := path.Clean(name)
	if c == "." {
		return ".", nil
	}
	return c, nil
}

// linkTarget resolves the target of a link entry named name to a path
// relative to the archive root, refusing targets outside it. Symbolic link
// targets are relative to the link's directory; hard link targets (tar
// TypeLink) name another entry from the root.
func linkTarget(name, target string, symbolic bool) (string, error) {
	if target == "" || strings.ContainsAny(target, "\x00\\") {
		return "", fmt.Errorf("%w %q: bad link target %q", errBadName, name, target)
	}
	if strings.HasPrefix(target, "/") {
		return "", fmt.Errorf("%w %q: link to absolute path %q", errBadName, name, target)
	}
	t := target
	if symbolic {
		t = path.Join(path.Dir(name), target)
	} else {
		t = path.Clean(target)
	}
	if t == ".." || strings.HasPrefix(t, "../") {
		return "", fmt.Errorf("%w %q: link %q points outside the archive", errBadName, name, target)
	}
	return t, nil
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
		return "", "", true, fmt.Errorf("blob %q: unsupported digest algorithm %q (only sha256)", name, algorithm)
	}
	if !isHex64(hex) {
		return "", "", true, fmt.Errorf("blob %q: not a sha256 digest", name)
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
