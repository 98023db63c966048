package cli

import (
	"bytes"
	"strings"
	"testing"
)

func TestLiveView(t *testing.T) {
	tests := []struct {
		name   string
		stream string
		want   []string
		absent []string
	}{
		{"cached and done", "#1 [1/3] FROM busybox\n#1 DONE 0.0s\n\n#2 [2/3] COPY . /app\n#2 CACHED\n\n#3 [3/3] RUN make\n#3 0.100 building\n#3 DONE 1.0s\n",
			[]string{"[+] Building", "(3/3) FINISHED", " => CACHED [2/3] COPY . /app", " => [3/3] RUN make "}, []string{"------"}},
		{"failure shows the output", "#1 [1/2] FROM busybox\n#1 DONE 0.0s\n#2 [2/2] RUN false\n#2 0.010 some output\n#2 ERROR: exit code: 1\n[Warning] One or more build-args [X] were not consumed\n",
			[]string{" => ERROR [2/2] RUN false", " > [2/2] RUN false:", "some output", "[Warning] One or more build-args [X]"}, nil},
		{"split writes", "#1 [1/1] RU", []string{"[1/1] RU"}, nil},
		{"long lines cut to the width", "#1 [1/1] RUN " + strings.Repeat("x", 300) + "\n#1 DONE 0.1s\n", []string{"x…"}, []string{strings.Repeat("x", 120)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			lv := newLiveView(&out, 0)
			for i := 0; i < len(tc.stream); i += 7 { // odd chunks: lines arrive split
				end := min(i+7, len(tc.stream))
				lv.Write([]byte(tc.stream[i:end]))
			}
			lv.Close()
			got := out.String()
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("view lacks %q:\n%s", w, got)
				}
			}
			for _, w := range tc.absent {
				if strings.Contains(got, w) {
					t.Errorf("view has %q:\n%s", w, got)
				}
			}
		})
	}
}
