package sandbox

import (
	"reflect"
	"strings"
	"testing"
)

func TestResolveUser(t *testing.T) {
	passwd := "root:x:0:0:root:/root:/bin/sh\n# comment\nbroken line\napp:x:1000:1000::/home/app:/bin/sh\nsvc:x:999:999::/srv:/bin/false\n"
	group := "root:x:0:\napp:x:1000:\nwheel:x:10:app,svc\ndocker:x:998:app\n"
	tests := []struct {
		spec    string
		want    identity
		wantErr string
	}{
		{"", identity{0, 0, []int{0}, "/root"}, ""},
		{"root", identity{0, 0, []int{0}, "/root"}, ""},
		{"app", identity{1000, 1000, []int{1000, 10, 998}, "/home/app"}, ""},
		{"app:wheel", identity{1000, 10, []int{10}, "/home/app"}, ""},
		{"1000", identity{1000, 1000, []int{1000, 10, 998}, "/home/app"}, ""},
		{"4242", identity{4242, 0, []int{0}, "/"}, ""},
		{"4242:77", identity{4242, 77, []int{77}, "/"}, ""},
		{"nobody", identity{}, "unable to find user nobody"},
		{"app:nogroup", identity{}, "unable to find group nogroup"},
	}
	for _, tc := range tests {
		t.Run(tc.spec, func(t *testing.T) {
			got, err := resolveUser(tc.spec, strings.NewReader(passwd), strings.NewReader(group))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

// FuzzResolveUser: passwd and group files come from the image, untrusted.
func FuzzResolveUser(f *testing.F) {
	f.Add("app", "app:x:1000:1000::/home/app:/bin/sh\n", "wheel:x:10:app\n")
	f.Add("1:2", "::::::\n", ":::\n")
	f.Fuzz(func(t *testing.T, spec, passwd, group string) {
		_, _ = resolveUser(spec, strings.NewReader(passwd), strings.NewReader(group))
	})
}
