package archive

import "testing"

func TestCleanNameAndLinks(t *testing.T) {
	names := []struct {
		in, want string
		ok       bool
	}{
		{"manifest.json", "manifest.json", true},
		{"./manifest.json", "manifest.json", true},
		{"blobs/sha256/", "blobs/sha256", true},
		{"a//b", "a/b", true},
		{"../x", "", false},
		{"a/../../x", "", false},
		{"a/..", "", false},
		{"/abs", "", false},
		{"a\\..\\b", "", false},
		{"nul\x00", "", false},
		{"", "", false},
	}
	for _, tc := range names {
		t.Run("name/"+tc.in, func(t *testing.T) {
			got, err := cleanName(tc.in)
			if (err == nil) != tc.ok || got != tc.want {
				t.Errorf("cleanName(%q) = %q, %v; want %q ok=%v", tc.in, got, err, tc.want, tc.ok)
			}
		})
	}
	links := []struct {
		name, target string
		symbolic     bool
		want         string
		ok           bool
	}{
		{"d/layer.tar", "../abc.tar", true, "abc.tar", true},
		{"d/layer.tar", "abc.tar", false, "abc.tar", true},
		{"d/layer.tar", "./e/../abc.tar", true, "d/abc.tar", true},
		{"d/layer.tar", "../../abc.tar", true, "", false},
		{"layer.tar", "../abc.tar", true, "", false},
		{"layer.tar", "/etc/passwd", true, "", false},
		{"layer.tar", "../abc.tar", false, "", false},
		{"layer.tar", "", true, "", false},
	}
	for _, tc := range links {
		t.Run("link/"+tc.name+"->"+tc.target, func(t *testing.T) {
			got, err := linkTarget(tc.name, tc.target, tc.symbolic)
			if (err == nil) != tc.ok || got != tc.want {
				t.Errorf("linkTarget(%q, %q, %v) = %q, %v; want %q ok=%v", tc.name, tc.target, tc.symbolic, got, err, tc.want, tc.ok)
			}
		})
	}
}

func TestParseBlobPath(t *testing.T) {
	hex := "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	for _, tc := range []struct {
		in      string
		isBlob  bool
		wantErr bool
		wantHex string
	}{
		{"blobs/sha256/" + hex, true, false, hex},
		{"blobs/sha256", false, false, ""},
		{"blobs/sha512/" + hex, true, true, ""},
		{"blobs/sha256/" + hex[:63], true, true, ""},
		{"blobs/sha256/" + hex[:63] + "G", true, true, ""},
		{"manifest.json", false, false, ""},
	} {
		t.Run(tc.in, func(t *testing.T) {
			_, h, isBlob, err := parseBlobPath(tc.in)
			if isBlob != tc.isBlob || (err != nil) != tc.wantErr || h != tc.wantHex {
				t.Errorf("parseBlobPath(%q) = %q, %v, %v", tc.in, h, isBlob, err)
			}
		})
	}
}
