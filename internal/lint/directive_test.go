package lint

import (
	"context"
	"strings"
	"testing"
)

// TestDirectivesAndConfig: BuildKit's # check= directive applies to berth's
// rules as to BuildKit's, and the config file re-levels and switches off.
func TestDirectivesAndConfig(t *testing.T) {
	const body = "FROM alpine\nRUN apk add curl\nCMD echo hi\n"
	cases := []struct {
		name   string
		df     string
		config string
		want   map[string]Level // rule → level; a rule absent here must not fire
	}{
		{name: "defaults", df: body, want: map[string]Level{"BaseImageNotPinned": Warning, "ApkAddNoCache": Warning, "RootUser": Warning, "JSONArgsRecommended": Warning}},
		{name: "skip one of each", df: "# check=skip=JSONArgsRecommended,ApkAddNoCache\n" + body, want: map[string]Level{"BaseImageNotPinned": Warning, "RootUser": Warning}},
		{name: "skip all", df: "# check=skip=all\n" + body, want: map[string]Level{}},
		{name: "error=true", df: "# check=error=true\n" + body, want: map[string]Level{"BaseImageNotPinned": Error, "ApkAddNoCache": Error, "RootUser": Error, "JSONArgsRecommended": Error}},
		{name: "both", df: "# check=skip=RootUser;error=true\n" + body, want: map[string]Level{"BaseImageNotPinned": Error, "ApkAddNoCache": Error, "JSONArgsRecommended": Error}},
		{name: "config", df: body, config: "rules:\n  RootUser: off\n  JSONArgsRecommended: info\n  ApkAddNoCache: error\n",
			want: map[string]Level{"BaseImageNotPinned": Warning, "ApkAddNoCache": Error, "JSONArgsRecommended": Info}},
		{name: "config and error=true", df: "# check=error=true\n" + body, config: "rules:\n  RootUser: info\n",
			want: map[string]Level{"BaseImageNotPinned": Error, "ApkAddNoCache": Error, "RootUser": Info, "JSONArgsRecommended": Error}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := Options{Dockerfile: []byte(c.df)}
			if c.config != "" {
				cfg, err := ParseConfig([]byte(c.config))
				if err != nil {
					t.Fatal(err)
				}
				o.Config = cfg
			}
			r, err := Run(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]Level{}
			for _, f := range r.Findings {
				got[f.Rule] = f.Level
			}
			if len(got) != len(c.want) {
				t.Errorf("fired %v, want %v", got, c.want)
			}
			for rule, l := range c.want {
				if got[rule] != l {
					t.Errorf("%s: level %v, want %v (all: %v)", rule, got[rule], l, got)
				}
			}
		})
	}
}

func TestBadInput(t *testing.T) {
	cases := []struct{ name, df, config, want string }{
		{name: "bad directive", df: "# check=skip\nFROM alpine:3.20\n", want: "failed to parse check options"},
		{name: "bad level", df: "# check=error=maybe\nFROM alpine:3.20\n", want: "failed to parse check options"},
		{name: "syntax", df: "FROM alpine:3.20\nRUNN x\n", want: "Dockerfile:2: unknown instruction: RUNN"},
		{name: "empty", df: "\n", want: "cannot be empty"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Run(context.Background(), Options{Dockerfile: []byte(c.df)})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
		})
	}
	for _, c := range []struct{ config, want string }{
		{"rules:\n  NoSuchRule: off\n", `unknown rule "NoSuchRule"`},
		{"rules:\n  RootUser: loud\n", `unknown level "loud"`},
		{"rule:\n  RootUser: off\n", "field rule not found"},
		{"rules: [1, 2]\n", "cannot unmarshal"},
	} {
		if _, err := ParseConfig([]byte(c.config)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseConfig(%q) = %v, want %q", c.config, err, c.want)
		}
	}
	if c, err := ParseConfig(nil); err != nil || len(c.Rules) != 0 {
		t.Errorf("empty config: %v %v", c, err)
	}
}

// TestBaseImageConfig: a base berth has pulled answers what the Dockerfile
// does not say (its USER, its HEALTHCHECK, its ENV for UndefinedVar).
func TestBaseImageConfig(t *testing.T) {
	df := []byte("FROM example.com/app-base:1\nEXPOSE 8080\nCOPY $APP_HOME/x /x\n")
	cfg := []byte(`{"architecture":"amd64","os":"linux","config":{"User":"1000","Env":["APP_HOME=/srv"],"Healthcheck":{"Test":["CMD","true"]}},"rootfs":{"type":"layers","diff_ids":["sha256:0000000000000000000000000000000000000000000000000000000000000000"]}}`)
	known := func(_ context.Context, ref string) ([]byte, bool) {
		return cfg, ref == "example.com/app-base:1"
	}
	r, err := Run(context.Background(), Options{Dockerfile: df, BaseImage: known})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Findings) != 0 || len(r.Notes) != 0 {
		t.Errorf("with the base known: %s", render(r))
	}
	df = []byte("FROM example.com/app-base:1\nEXPOSE 8080\nCOPY $NOT_SET/x /x\n")
	r, err = Run(context.Background(), Options{Dockerfile: df, BaseImage: known})
	if err != nil {
		t.Fatal(err)
	}
	if got := render(r); !strings.Contains(got, "UndefinedVar") {
		t.Errorf("with the base known, an undefined variable is found: %s", got)
	}
	// Unknown: the rules assume root and no healthcheck, and UndefinedVar
	// is left out with a note.
	r, err = Run(context.Background(), Options{Dockerfile: df})
	if err != nil {
		t.Fatal(err)
	}
	got := render(r)
	for _, want := range []string{"RootUser", "HealthcheckMissing", "note: UndefinedVar is not checked in stages FROM example.com/app-base:1"} {
		if !strings.Contains(got, want) {
			t.Errorf("unknown base: want %q in\n%s", want, got)
		}
	}
	if strings.Contains(got, " UndefinedVar:") {
		t.Errorf("unknown base: UndefinedVar reported:\n%s", got)
	}
}
