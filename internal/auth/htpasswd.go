package auth

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"github.com/berth-dev/berth/internal/untrusted"
	"io"
	"os"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// maxFileSize bounds an htpasswd file (it is read whole).
const maxFileSize = 16 << 20

// Entry is one htpasswd line.
type Entry struct {
	User string
	Hash []byte // bcrypt, "$2y$..." as Apache writes it
}

// ParseHtpasswd reads user:hash lines. Blank lines and lines starting with #
// are skipped. Only bcrypt hashes are accepted: the MD5, SHA-1 and crypt
// formats Apache also writes are too weak to keep.
func ParseHtpasswd(r io.Reader) ([]Entry, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("htpasswd file exceeds %d bytes", maxFileSize)
	}
	var out []Entry
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 4096), maxFileSize)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		user, hash, ok := strings.Cut(line, ":")
		if !ok || user == "" {
			return nil, fmt.Errorf("line %d: expected user:hash", n)
		}
		if !isBcrypt(hash) {
			return nil, fmt.Errorf("line %d: user %s: only bcrypt entries are supported (create them with htpasswd -B)", n, untrusted.Quote(user))
		}
		if _, err := bcrypt.Cost([]byte(hash)); err != nil {
			return nil, fmt.Errorf("line %d: user %s: invalid bcrypt hash: %w", n, untrusted.Quote(user), err)
		}
		out = append(out, Entry{User: user, Hash: []byte(hash)})
	}
	return out, sc.Err()
}

func isBcrypt(h string) bool {
	return strings.HasPrefix(h, "$2y$") || strings.HasPrefix(h, "$2a$") || strings.HasPrefix(h, "$2b$")
}

// ValidUser reports whether name can be stored in an htpasswd file.
func ValidUser(name string) bool {
	return name != "" && len(name) <= 255 && !strings.ContainsAny(name, ":\r\n")
}

// HashPassword returns a bcrypt hash in Apache's "$2y$" spelling.
func HashPassword(password string, cost int) ([]byte, error) {
	if cost == 0 {
		cost = bcrypt.DefaultCost
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	if err != nil {
		return nil, err
	}
	if bytes.HasPrefix(h, []byte("$2a$")) {
		h[2] = 'y' // same algorithm; Apache writes and expects $2y$
	}
	return h, nil
}

// SetUser returns the file content with user's entry added or replaced,
// keeping every other line as it was.
func SetUser(old []byte, user string, hash []byte) ([]byte, error) {
	if !ValidUser(user) {
		return nil, fmt.Errorf("invalid user name %s", untrusted.Quote(user))
	}
	var out bytes.Buffer
	replaced := false
	for line := range strings.SplitSeq(string(old), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		if u, _, ok := strings.Cut(strings.TrimSpace(line), ":"); ok && u == user {
			if replaced {
				continue
			}
			line = user + ":" + string(hash)
			replaced = true
		}
		out.WriteString(line + "\n")
	}
	if !replaced {
		out.WriteString(user + ":" + string(hash) + "\n")
	}
	return out.Bytes(), nil
}

// LoadFile reads and parses an htpasswd file.
func LoadFile(path string) ([]Entry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	e, err := ParseHtpasswd(f)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return e, nil
}

// ErrBadCredentials: unknown user or wrong password (deliberately the same).
var ErrBadCredentials = errors.New("invalid username or password")
