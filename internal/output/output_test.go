package output

import (
	"bytes"
	"testing"
	"time"
)

func TestHumanSize(t *testing.T) {
	for _, tt := range []struct {
		n    int64
		want string
	}{{0, "0B"}, {999, "999B"}, {1000, "1kB"}, {1234, "1.23kB"}, {4261234, "4.26MB"}, {72800000, "72.8MB"}, {1200000000, "1.2GB"}} {
		if got := HumanSize(tt.n); got != tt.want {
			t.Errorf("HumanSize(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}

func TestHumanDuration(t *testing.T) {
	for _, tt := range []struct {
		d    time.Duration
		want string
	}{
		{500 * time.Millisecond, "Less than a second"}, {time.Second, "1 second"}, {30 * time.Second, "30 seconds"},
		{61 * time.Second, "About a minute"}, {5 * time.Minute, "5 minutes"}, {70 * time.Minute, "About an hour"},
		{5 * time.Hour, "5 hours"}, {72 * time.Hour, "3 days"}, {21 * 24 * time.Hour, "3 weeks"},
		{90 * 24 * time.Hour, "3 months"}, {3 * 365 * 24 * time.Hour, "3 years"},
	} {
		if got := HumanDuration(tt.d); got != tt.want {
			t.Errorf("HumanDuration(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestTable(t *testing.T) {
	rows := []any{
		map[string]any{"Repository": "busybox", "Tag": "latest", "Size": "4.26MB"},
		map[string]any{"Repository": "localhost:5000/a-much-longer-name", "Tag": "v1", "Size": "1kB"},
	}
	headers := map[string]string{"Repository": "REPOSITORY", "Tag": "TAG", "Size": "SIZE"}
	tests := []struct{ format, want string }{
		{`table {{.Repository}}\t{{.Tag}}\t{{.Size}}`, "REPOSITORY                          TAG       SIZE\nbusybox                             latest    4.26MB\nlocalhost:5000/a-much-longer-name   v1        1kB\n"},
		{`{{.Repository}}:{{.Tag}}`, "busybox:latest\nlocalhost:5000/a-much-longer-name:v1\n"},
		{`json`, "{\"Repository\":\"busybox\",\"Size\":\"4.26MB\",\"Tag\":\"latest\"}\n{\"Repository\":\"localhost:5000/a-much-longer-name\",\"Size\":\"1kB\",\"Tag\":\"v1\"}\n"},
		{`{{json .Tag}} {{upper .Tag}} {{truncate .Repository 4}}`, "\"latest\" LATEST bus…\n\"v1\" V1 loc…\n"},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			var buf bytes.Buffer
			if err := (Table{Format: tt.format, Headers: headers}).Write(&buf, rows); err != nil {
				t.Fatal(err)
			}
			if buf.String() != tt.want {
				t.Errorf("got\n%q\nwant\n%q", buf.String(), tt.want)
			}
		})
	}
	var buf bytes.Buffer
	if err := (Table{Format: "{{.Nope"}).Write(&buf, rows); err == nil {
		t.Error("bad template accepted")
	}
}
