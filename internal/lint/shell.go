package lint

import (
	"path"
	"strings"
	"unicode"
)

// A RUN script read as far as the rules need: simple commands split at the
// shell's list and pipe operators, quotes removed. It is not a shell parser
// (no expansion, no subshell structure); the rules only look for command
// words and flags.

// command is one simple command of a script.
type command struct {
	words []string
	piped bool // it reads the previous command's output through |
}

// commands splits a script into its simple commands.
func commands(script string) []command {
	var out []command
	var cur command
	var word strings.Builder
	inWord := false
	flushWord := func() {
		if inWord {
			cur.words = append(cur.words, word.String())
			word.Reset()
			inWord = false
		}
	}
	flushCmd := func(piped bool) {
		flushWord()
		if len(cur.words) > 0 {
			out = append(out, cur)
		}
		cur = command{piped: piped}
	}
	for i := 0; i < len(script); i++ {
		c := script[i]
		switch {
		case c == '\\' && i+1 < len(script):
			i++
			if script[i] != '\n' {
				word.WriteByte(script[i])
				inWord = true
			}
		case c == '\'' || c == '"':
			j := strings.IndexByte(script[i+1:], c)
			if j < 0 {
				j = len(script) - i - 1
			}
			word.WriteString(script[i+1 : i+1+j])
			inWord = true
			i += j + 1
		case c == '|':
			if i+1 < len(script) && script[i+1] == '|' {
				i++
				flushCmd(false)
			} else {
				flushCmd(true)
			}
		case c == '&' || c == ';' || c == '\n' || c == '(' || c == ')' || c == '{' && !inWord || c == '}' && !inWord:
			if c == '&' && i+1 < len(script) && script[i+1] == '&' {
				i++
			}
			flushCmd(false)
		case c == ' ' || c == '\t' || c == '\r':
			flushWord()
		default:
			word.WriteByte(c)
			inWord = true
		}
	}
	flushCmd(false)
	return out
}

// name is the command word: the first word that is not a VAR=value
// assignment, sudo, env or exec, by its base name (/usr/bin/pip → pip), and
// its index.
func (c command) name() (string, int) {
	for i, w := range c.words {
		if isAssign(w) {
			continue
		}
		switch w {
		case "sudo", "env", "exec", "command", "nohup", "time":
			continue
		}
		return path.Base(w), i
	}
	return "", -1
}

func isAssign(w string) bool {
	k, _, ok := strings.Cut(w, "=")
	if !ok || k == "" {
		return false
	}
	for i, r := range k {
		if r != '_' && !unicode.IsLetter(r) && (i == 0 || !unicode.IsDigit(r)) {
			return false
		}
	}
	return true
}

// sameTool compares a command name with a pattern's, pip3 and pip3.12 being
// pip.
func sameTool(name, want string) bool {
	return name == want || want == "pip" && strings.TrimRight(name, "0123456789.") == "pip"
}

// runs reports whether the command runs pattern: its first word as the
// command (by base name) or, for a pattern starting with a flag
// ("-m pip install"), anywhere; then the rest in order as the next words
// that are not flags. It returns the index after the match.
func (c command) runs(pattern []string) (int, bool) {
	start := -1
	if strings.HasPrefix(pattern[0], "-") {
		for i, w := range c.words {
			if w == pattern[0] {
				start = i
				break
			}
		}
	} else if n, i := c.name(); sameTool(n, pattern[0]) {
		start = i
	}
	if start < 0 {
		return 0, false
	}
	j := start + 1
	for _, p := range pattern[1:] {
		for j < len(c.words) && strings.HasPrefix(c.words[j], "-") && c.words[j] != p {
			j++
		}
		if j >= len(c.words) || c.words[j] != p {
			return 0, false
		}
		j++
	}
	return j, true
}

// args are the words after index i that are not flags.
func (c command) args(i int) []string {
	var out []string
	for _, w := range c.words[min(i, len(c.words)):] {
		if !strings.HasPrefix(w, "-") {
			out = append(out, w)
		}
	}
	return out
}
