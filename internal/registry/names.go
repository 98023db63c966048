package registry

import (
	"crypto/sha256"
	"crypto/sha512"
	"hash"
	"strings"
)

// Limits from the distribution spec and the reference implementation.
const (
	maxNameLen = 255
	maxTagLen  = 128
)

// validName reports whether name matches the spec's repository grammar:
//
//	[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*
//
// It is checked before any storage key is built from the name.
func validName(name string) bool {
	if name == "" || len(name) > maxNameLen {
		return false
	}
	for comp := range strings.SplitSeq(name, "/") {
		if !validComponent(comp) {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

func validComponent(s string) bool {
	if s == "" || !isAlnum(s[0]) || !isAlnum(s[len(s)-1]) {
		return false
	}
	for i := 0; i < len(s); {
		if isAlnum(s[i]) {
			i++
			continue
		}
		// A separator: ".", "_", "__" or one or more "-", between alphanumerics.
		j := i
		switch s[i] {
		case '.':
			j++
		case '_':
			j++
			if j < len(s) && s[j] == '_' {
				j++
			}
		case '-':
			for j < len(s) && s[j] == '-' {
				j++
			}
		default:
			return false
		}
		if j >= len(s) || !isAlnum(s[j]) {
			return false
		}
		i = j
	}
	return true
}

// validTag: [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}
func validTag(tag string) bool {
	if tag == "" || len(tag) > maxTagLen {
		return false
	}
	for i := 0; i < len(tag); i++ {
		c := tag[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
		if i > 0 {
			ok = ok || c == '.' || c == '-'
		}
		if !ok {
			return false
		}
	}
	return true
}

// digest is a parsed, validated content digest of a supported algorithm.
type digest struct {
	alg string // "sha256" or "sha512"
	hex string
}

func (d digest) String() string { return d.alg + ":" + d.hex }

// parseDigest accepts only the algorithms berth can verify, with lower-case
// hex of the right length; anything else is DIGEST_INVALID.
func parseDigest(s string) (digest, bool) {
	alg, hexs, ok := strings.Cut(s, ":")
	if !ok {
		return digest{}, false
	}
	var n int
	switch alg {
	case "sha256":
		n = 64
	case "sha512":
		n = 128
	default:
		return digest{}, false
	}
	if len(hexs) != n {
		return digest{}, false
	}
	for i := 0; i < len(hexs); i++ {
		c := hexs[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return digest{}, false
		}
	}
	return digest{alg, hexs}, true
}

func newHash(alg string) hash.Hash {
	if alg == "sha512" {
		return sha512.New()
	}
	return sha256.New()
}

func digestOf(alg string, b []byte) digest {
	h := newHash(alg)
	h.Write(b)
	return digest{alg, hexString(h.Sum(nil))}
}

func hexString(b []byte) string {
	const hx = "0123456789abcdef"
	out := make([]byte, len(b)*2)
	for i, c := range b {
		out[2*i], out[2*i+1] = hx[c>>4], hx[c&15]
	}
	return string(out)
}
