package image

import (
	"reflect"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func TestApplyChanges(t *testing.T) {
	tests := []struct {
		changes []string
		want    v1.Config
		wantErr bool
	}{
		{changes: []string{`CMD ["sh"]`}, want: v1.Config{Cmd: []string{"sh"}}},
		{changes: []string{`CMD echo hi`}, want: v1.Config{Cmd: []string{"/bin/sh", "-c", "echo hi"}}},
		{changes: []string{`ENTRYPOINT ["/bin/app","-v"]`}, want: v1.Config{Entrypoint: []string{"/bin/app", "-v"}}},
		{changes: []string{`ENV A=1 B="two words"`, `ENV A=3`}, want: v1.Config{Env: []string{"A=3", "B=two words"}}},
		{changes: []string{`WORKDIR /app`, `USER 1000:1000`}, want: v1.Config{WorkingDir: "/app", User: "1000:1000"}},
		{changes: []string{`EXPOSE 80 53/udp`}, want: v1.Config{ExposedPorts: map[string]struct{}{"80/tcp": {}, "53/udp": {}}}},
		{changes: []string{`LABEL a=b "c d"=e`}, want: v1.Config{Labels: map[string]string{"a": "b", "c d": "e"}}},
		{changes: []string{`RUN true`}, wantErr: true},
		{changes: []string{`NOPE x`}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.changes[0], func(t *testing.T) {
			var cfg v1.Config
			err := ApplyChanges(&cfg, tt.changes)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("ApplyChanges(%q) succeeded", tt.changes)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(cfg, tt.want) {
				t.Errorf("got %+v, want %+v", cfg, tt.want)
			}
		})
	}
}
