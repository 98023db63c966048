package dockerfile

import (
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
)

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"unknown instruction", "FROM scratch\nENV A=1\n\n\n\n\nRUNN echo\n", "Dockerfile:7: unknown instruction: RUNN"},
		{"empty", "\n  \n", "Dockerfile: the Dockerfile cannot be empty"},
		{"no from", "# just a comment\nRUN echo\n", "Dockerfile:2: no build stage in current context"},
		{"copy without dest", "FROM scratch\nCOPY a\n", "Dockerfile:2: COPY requires at least two arguments"},
		{"bad flag", "FROM scratch\nCOPY --bogus=1 a b\n", "Dockerfile:2: unknown flag: --bogus"},
		{"env no value", "FROM scratch\nENV\n", "Dockerfile:2: ENV requires at least one argument"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("Dockerfile", []byte(tc.src))
			if err == nil {
				t.Fatalf("no error, want %q", tc.want)
			}
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("error %q, want prefix %q", err, tc.want)
			}
		})
	}
}

func TestParseFeatures(t *testing.T) {
	tests := []struct {
		name  string
		src   string
		check func(t *testing.T, f *File)
	}{
		{"escape directive", "# escape=`\nFROM scratch\nRUN echo a `\n  b\n", func(t *testing.T, f *File) {
			if f.Escape != '`' {
				t.Fatalf("escape %q", f.Escape)
			}
			run := f.Stages[0].Commands[0].(*instructions.RunCommand)
			if got := strings.Join(run.CmdLine, " "); got != "echo a   b" {
				t.Fatalf("cmdline %q", got)
			}
		}},
		{"syntax directive", "# syntax=docker/dockerfile:1\nFROM scratch\n", func(t *testing.T, f *File) {
			if f.Syntax != "docker/dockerfile:1" {
				t.Fatalf("syntax %q", f.Syntax)
			}
		}},
		{"continuation", "FROM scratch\nRUN echo a \\\n  b\n", func(t *testing.T, f *File) {
			run := f.Stages[0].Commands[0].(*instructions.RunCommand)
			if got := run.CmdLine[0]; got != "echo a   b" {
				t.Fatalf("cmdline %q", got)
			}
		}},
		{"heredoc run", "FROM scratch\nRUN <<EOF\necho hi\nEOF\n", func(t *testing.T, f *File) {
			run := f.Stages[0].Commands[0].(*instructions.RunCommand)
			if len(run.Files) != 1 || run.Files[0].Data != "echo hi\n" {
				t.Fatalf("files %+v", run.Files)
			}
		}},
		{"heredoc copy", "FROM scratch\nCOPY <<EOF /hello\nhello\nEOF\n", func(t *testing.T, f *File) {
			c := f.Stages[0].Commands[0].(*instructions.CopyCommand)
			if len(c.SourceContents) != 1 || c.SourceContents[0].Data != "hello\n" || c.DestPath != "/hello" {
				t.Fatalf("copy %+v", c.SourcesAndDest)
			}
		}},
		{"meta args and stages", "ARG V=1\nFROM scratch AS a\nFROM a AS b\nCOPY --from=a --chown=1:2 --chmod=600 --link /x /y\n", func(t *testing.T, f *File) {
			if len(f.MetaArgs) != 1 || f.MetaArgs[0].Args[0].Key != "V" {
				t.Fatalf("meta %+v", f.MetaArgs)
			}
			if len(f.Stages) != 2 || f.Stages[1].BaseName != "a" || f.Stages[1].Name != "b" {
				t.Fatalf("stages %+v", f.Stages)
			}
			c := f.Stages[1].Commands[0].(*instructions.CopyCommand)
			if c.From != "a" || c.Chown != "1:2" || c.Chmod != "600" || !c.Link {
				t.Fatalf("copy %+v", c)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Parse("Dockerfile", []byte(tc.src))
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, f)
		})
	}
}

var fuzzSeeds = []string{
	"FROM scratch\n",
	"# escape=`\nFROM busybox AS b\nRUN echo `\n hi\n",
	"ARG X=1\nFROM busybox:${X}\nCOPY --from=0 <<EOF /a\nx\nEOF\n",
	"FROM a\nRUN --mount=type=cache,target=/c <<A <<B\nx\nA\ny\nB\n",
	"FROM a\nHEALTHCHECK --interval=5s CMD true\nONBUILD RUN x\n",
	"FROM\n",
	"RUNN\n",
}

func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		df, err := Parse("Dockerfile", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "Dockerfile") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if len(df.Stages) == 0 {
			t.Fatal("parsed without stages")
		}
	})
}
