package dockerfile

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

// MaxSize bounds the Dockerfiles we accept; BuildKit's own limit is similar.
const MaxSize = 4 << 20

// File is a parsed Dockerfile.
type File struct {
	Name     string // as given, for messages ("Dockerfile")
	Stages   []instructions.Stage
	MetaArgs []instructions.ArgCommand // ARGs before the first FROM
	Escape   rune                      // from the "# escape=" directive
	Syntax   string                    // the "# syntax=" directive, informational
	Warnings []string
	lines    []string
}

// Line returns source line n (1-based), trimmed, or "".
func (f *File) Line(n int) string {
	if n < 1 || n > len(f.lines) {
		return ""
	}
	return strings.TrimSpace(f.lines[n-1])
}

// Error is a Dockerfile error that names the file and line, printed as
// "Dockerfile:7: unknown instruction: RUNN".
type Error struct {
	File string
	Line int // 0 when the error has no position
	Msg  string
	Err  error // the cause, for errors.Is (e.g. context.Canceled); may be nil
}

func (e *Error) Unwrap() error { return e.Err }

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// Parse parses a Dockerfile named name (used only in messages).
func Parse(name string, data []byte) (*File, error) {
	if len(data) > MaxSize {
		return nil, &Error{File: name, Msg: fmt.Sprintf("file is larger than %d bytes", MaxSize)}
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, &Error{File: name, Msg: "the Dockerfile cannot be empty"}
	}
	res, err := parser.Parse(bytes.NewReader(data))
	if err != nil {
		return nil, locate(name, err)
	}
	stages, metaArgs, err := instructions.Parse(res.AST, nil)
	if err != nil {
		return nil, locate(name, err)
	}
	if len(stages) == 0 {
		return nil, &Error{File: name, Msg: "no build stage in current context"}
	}
	f := &File{
		Name:     name,
		Stages:   stages,
		MetaArgs: metaArgs,
		Escape:   res.EscapeToken,
		lines:    strings.Split(string(data), "\n"),
	}
	if syn, _, _, ok := parser.DetectSyntax(data); ok {
		f.Syntax = syn
	}
	for _, w := range res.Warnings {
		msg := w.Short
		if w.Location != nil {
			msg = fmt.Sprintf("%s:%d: %s", name, w.Location.Start.Line, w.Short)
		}
		f.Warnings = append(f.Warnings, msg)
	}
	return f, nil
}

// locate turns BuildKit's errors into an *Error carrying the line.
func locate(name string, err error) error {
	line := 0
	var le *parser.LocationError
	var ue *instructions.UnknownInstructionError
	switch {
	case errors.As(err, &ue):
		line = ue.Line
	case errors.As(err, &le) && len(le.Locations) > 0 && len(le.Locations[0]) > 0:
		line = le.Locations[0][0].Start.Line
	}
	msg := err.Error()
	// instructions.Parse prefixes "dockerfile parse error on line N: "; the
	// line is already in our prefix.
	if i := strings.Index(msg, "dockerfile parse error on line "); i >= 0 {
		if j := strings.Index(msg[i:], ": "); j >= 0 {
			msg = msg[:i] + msg[i+j+2:]
		}
	}
	return &Error{File: name, Line: line, Msg: msg}
}

// NewLex returns the word expander for this file's escape token.
func (f *File) NewLex() *shell.Lex {
	esc := f.Escape
	if esc == 0 {
		esc = '\\'
	}
	return shell.NewLex(esc)
}

// StartLine returns the first line of an instruction, or 0.
func StartLine(c interface{ Location() []parser.Range }) int {
	loc := c.Location()
	if len(loc) == 0 {
		return 0
	}
	return loc[0].Start.Line
}
