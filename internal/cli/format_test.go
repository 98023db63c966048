package cli_test

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestFormatKeys checks the --format values Docker's CLI gives meaning to,
// with the output docker 28.2.2 prints for the same listing (checked by
// hand against it: the daemon here holds no images a test could rely on).
func TestFormatKeys(t *testing.T) {
	c := newCLI(t)
	c.importImage("busybox:latest", nil)
	// An image whose tag moved on is dangling: <none> <none>.
	id := c.importImage("dang:1", map[string]string{"f": "1"})
	c.importImage("dang:1", map[string]string{"f": "2"})
	reg := serveRegistry(t, c.bin)
	c.ok("tag", "busybox", reg+"/fmt/app:1")
	c.ok("push", "-q", reg+"/fmt/app:1")

	for _, tc := range []struct {
		name string
		args []string
		same []string // the output equals this command's, run just before or just after
		want []string
		not  []string
		json bool // every line is a JSON value
	}{
		{name: "images table is the default", args: []string{"images", "--format", "table"}, same: []string{"images"}},
		{name: "history table", args: []string{"history", "--format", "table", "busybox"}, want: []string{"IMAGE          CREATED ", "CREATED BY   SIZE      COMMENT\n"}},
		{name: "system df table", args: []string{"system", "df", "--format", "table"}, want: []string{"TYPE            TOTAL     ACTIVE    SIZE      RECLAIMABLE\nImages"}},
		{name: "json func does not escape", args: []string{"images", "--format", "{{json .Repository}}"}, want: []string{`"<none>"`, `"busybox"`}, not: []string{`\u003c`}},
		{name: "json row keeps docker's escaping", args: []string{"images", "--format", "{{json .}}"}, want: []string{`"Repository":"\u003cnone\u003e"`}, json: true},
		{name: "json format", args: []string{"images", "--format", "json"}, want: []string{`"Tag":"\u003cnone\u003e"`}, json: true},
		{name: "digests add the column to a custom table", args: []string{"images", "--digests", "--format", "table {{.Repository}}\t{{.Tag}}"}, want: []string{"REPOSITORY", "TAG", "DIGEST\n", "<none>"}},
		{name: "digests and the table key", args: []string{"images", "--digests", "--format", "table"}, want: []string{"REPOSITORY", "TAG       DIGEST", "IMAGE ID"}},
		{name: "inspect -f json", args: []string{"inspect", "-f", "json", "busybox", id}, want: []string{`[{"Id":"sha256:`, `"busybox:latest"]`}, json: true},
		{name: "system df json sorted keys", args: []string{"system", "df", "--format", "json"}, want: []string{`{"Active":"0","Reclaimable":`, `"Type":"Images"}`}, json: true},
		{name: "system df -v json", args: []string{"system", "df", "-v", "--format", "json"}, want: []string{`{"Images":[{"Containers":"0"`, `"ID":"` + id, `"Containers":[],"Volumes":[],"BuildCache":[`}, json: true},
		{name: "search json", args: []string{"search", "--format", "json", reg + "/fmt"}, want: []string{`"Name":"` + reg + `/fmt/app"`, `{"Description":`}, json: true},
		{name: "search table", args: []string{"search", "--format", "table", reg + "/fmt"}, want: []string{"NAME", "fmt/app"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var before string
			if tc.same != nil {
				before = c.ok(tc.same...)
			}
			out := c.ok(tc.args...)
			// CREATED is rendered as each command runs ("1 second ago"), so
			// a second boundary may fall between two of them.
			if tc.same != nil && out != before {
				if after := c.ok(tc.same...); out != after {
					t.Errorf("%s printed:\n%s\nbut %s printed:\n%s", strings.Join(tc.args, " "), out, strings.Join(tc.same, " "), after)
				}
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("stdout lacks %q:\n%s", w, out)
				}
			}
			for _, w := range tc.not {
				if strings.Contains(out, w) {
					t.Errorf("stdout has %q:\n%s", w, out)
				}
			}
			if tc.json {
				for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
					if !json.Valid([]byte(l)) {
						t.Errorf("line %q is not JSON", l)
					}
				}
			}
		})
	}
}
