package remote

import (
	"net/http"
	"strings"
)

// Challenge is one WWW-Authenticate challenge (RFC 7235 section 4.1), such as
// `Bearer realm="https://auth.example/token",service="registry"`.
type Challenge struct {
	Scheme string            // lower-cased: "bearer", "basic"
	Params map[string]string // keys lower-cased
}

// maxChallengeLen bounds the header text we parse; registries send a few
// hundred bytes.
const maxChallengeLen = 16 << 10

// ParseChallenges parses the WWW-Authenticate header values of a response.
// Unparseable parts are skipped: a registry's bad header must not stop a pull
// that does not need it.
func ParseChallenges(h http.Header) []Challenge {
	var out []Challenge
	for _, v := range h.Values("WWW-Authenticate") {
		out = append(out, ParseChallenge(v)...)
	}
	return out
}

// ParseChallenge parses one WWW-Authenticate header value, which may hold
// several challenges separated by commas.
func ParseChallenge(v string) []Challenge {
	if len(v) > maxChallengeLen {
		v = v[:maxChallengeLen]
	}
	var out []Challenge
	// Every pass of either loop consumes a non-empty token, so both end.
	for s := skipSpaceComma(v); s != ""; s = skipSpaceComma(s) {
		scheme, rest := token(s)
		if scheme == "" {
			return out
		}
		c := Challenge{Scheme: strings.ToLower(scheme), Params: map[string]string{}}
		s = rest
		// auth-params: name=value pairs separated by commas, until a token
		// not followed by "=", which starts the next challenge.
		for {
			t := skipSpaceComma(s)
			name, after := token(t)
			after = strings.TrimLeft(after, " \t")
			if name == "" || !strings.HasPrefix(after, "=") {
				s = t
				break
			}
			after = strings.TrimLeft(after[1:], " \t")
			var val string
			if strings.HasPrefix(after, `"`) {
				val, after = quoted(after)
			} else {
				val, after = token(after)
			}
			c.Params[strings.ToLower(name)] = val
			s = after
		}
		out = append(out, c)
	}
	return out
}

func skipSpaceComma(s string) string {
	return strings.TrimLeft(s, " \t,")
}

// token reads an RFC 7230 token (plus ':' and '/', which registries put
// unquoted in scope values) and returns it and the rest.
func token(s string) (string, string) {
	i := 0
	for i < len(s) && isTokenChar(s[i]) {
		i++
	}
	return s[:i], s[i:]
}

func isTokenChar(c byte) bool {
	if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~:/", c) >= 0
}

// quoted reads a quoted-string starting at s[0] == '"', handling backslash
// escapes; an unterminated string runs to the end.
func quoted(s string) (string, string) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if i+1 < len(s) {
				i++
				b.WriteByte(s[i])
			}
		case '"':
			return b.String(), s[i+1:]
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String(), ""
}
