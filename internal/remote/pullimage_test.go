package remote

import (
	"context"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/berth-dev/berth/internal/remote/remotetest"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// recordedEvents keeps the image-level lines and the layer statuses seen.
type recordedEvents struct {
	mu       sync.Mutex
	messages []string
	statuses map[string][]string
}

func (r *recordedEvents) Status(id, s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.statuses == nil {
		r.statuses = map[string][]string{}
	}
	r.statuses[id] = append(r.statuses[id], s)
}
func (r *recordedEvents) Bytes(string, int64, int64) {}
func (r *recordedEvents) Message(id, text string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if id != "" {
		text = id + ": " + text
	}
	r.messages = append(r.messages, text)
}

func TestPullImage(t *testing.T) {
	ctx := context.Background()
	reg := remotetest.Start(t, remotetest.Options{})
	e := newEnv(t, Settings{})
	one, two := randomImage(t, 1<<10, 2), randomImage(t, 1<<10, 1)
	if _, err := e.c.Push(ctx, mustRef(t, reg.Host+"/app:1"), one, PushOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.Push(ctx, mustRef(t, reg.Host+"/app:2"), two, PushOptions{}); err != nil {
		t.Fatal(err)
	}
	d1 := digestOf(t, one.Digest)
	d2 := digestOf(t, two.Digest)

	ev := &recordedEvents{}
	res, err := e.c.PullImage(ctx, PullImageOptions{Ref: reg.Host + "/app:1"}, e.st, ev)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"1: Pulling from app", "Digest: " + d1.String(), "Status: Downloaded newer image for " + reg.Host + "/app:1"}
	if !reflect.DeepEqual(ev.messages, want) || !res.Newer || res.Name != reg.Host+"/app:1" || len(res.Images) != 1 || res.Images[0].Desc.Digest != d1 {
		t.Fatalf("first pull: %+v\nmessages %q", res, ev.messages)
	}
	if len(ev.statuses) != 2 {
		t.Fatalf("layer statuses for %d layers, want 2: %v", len(ev.statuses), ev.statuses)
	}
	for _, n := range []string{reg.Host + "/app:1", reg.Host + "/app@" + d1.String()} {
		if d, ok := e.st.ImageDigest(ctx, n); !ok || d != d1 {
			t.Fatalf("%s names %v (%v)", n, d, ok)
		}
	}

	// Again: nothing is newer; then every tag, one of them new.
	ev = &recordedEvents{}
	if res, err = e.c.PullImage(ctx, PullImageOptions{Ref: reg.Host + "/app:1"}, e.st, ev); err != nil || res.Newer {
		t.Fatalf("second pull: %+v %v", res, err)
	}
	if last := ev.messages[len(ev.messages)-1]; last != "Status: Image is up to date for "+reg.Host+"/app:1" {
		t.Fatalf("second pull ends with %q", last)
	}
	ev = &recordedEvents{}
	res, err = e.c.PullImage(ctx, PullImageOptions{Ref: reg.Host + "/app", AllTags: true}, e.st, ev)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Newer || res.Name != reg.Host+"/app" || len(res.Images) != 2 || res.Images[0].Newer || !res.Images[1].Newer || res.Images[1].Desc.Digest != d2 {
		t.Fatalf("all tags: %+v", res)
	}
	if ev.messages[0] != "Pulling all tags of "+reg.Host+"/app" || ev.messages[len(ev.messages)-1] != "Status: Downloaded newer image for "+reg.Host+"/app" {
		t.Fatalf("all tags messages: %q", ev.messages)
	}

	for _, tt := range []struct {
		o    PullImageOptions
		want string
	}{
		{PullImageOptions{Ref: reg.Host + "/app:1", AllTags: true}, "tag can't be used with --all-tags"},
		{PullImageOptions{Ref: "Bad:Name"}, "invalid reference format"},
		{PullImageOptions{Ref: reg.Host + "/app:nope"}, "manifest unknown"},
	} {
		if _, err := e.c.PullImage(ctx, tt.o, e.st, nil); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: %v, want %q", tt.o, err, tt.want)
		}
	}
}

func TestPushImage(t *testing.T) {
	ctx := context.Background()
	reg := remotetest.Start(t, remotetest.Options{})
	e := newEnv(t, Settings{})
	img := randomImage(t, 1<<10, 2)
	if _, err := e.c.Push(ctx, mustRef(t, reg.Host+"/app:1"), img, PushOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.PullImage(ctx, PullImageOptions{Ref: reg.Host + "/app:1"}, e.st, nil); err != nil {
		t.Fatal(err)
	}
	for _, tag := range []string{"copy:b", "copy:a"} {
		if err := e.st.TagImage(ctx, reg.Host+"/app:1", reg.Host+"/"+tag); err != nil {
			t.Fatal(err)
		}
	}
	ev := &recordedEvents{}
	res, err := e.c.PushImage(ctx, PushImageOptions{Ref: reg.Host + "/copy", AllTags: true}, e.st, ev)
	if err != nil {
		t.Fatal(err)
	}
	d := digestOf(t, img.Digest)
	if len(res.Images) != 2 || res.Images[0].Tag != "a" || res.Images[1].Tag != "b" || res.Images[0].Digest != d {
		t.Fatalf("pushed %+v", res.Images)
	}
	if ev.messages[0] != "The push refers to repository ["+reg.Host+"/copy]" || !strings.HasPrefix(ev.messages[1], "a: digest: "+d.String()+" size: ") {
		t.Fatalf("messages %q", ev.messages)
	}
	mounted := 0
	for _, ss := range ev.statuses {
		for _, s := range ss {
			if s == "Mounted from app" {
				mounted++
			}
		}
	}
	if mounted != 2 {
		t.Fatalf("layers mounted from app: %d, want 2 (%v)", mounted, ev.statuses)
	}
	for _, tt := range []struct {
		o    PushImageOptions
		want string
	}{
		{PushImageOptions{Ref: reg.Host + "/none:1"}, "An image does not exist locally with the tag: " + reg.Host + "/none"},
		{PushImageOptions{Ref: reg.Host + "/none", AllTags: true}, "An image does not exist locally with the tag: " + reg.Host + "/none"},
		{PushImageOptions{Ref: reg.Host + "/app@" + d.String()}, "push by digest is not supported"},
		{PushImageOptions{Ref: reg.Host + "/app:1", Platform: &v1.Platform{OS: "linux", Architecture: "s390x"}}, "does not provide the specified platform (linux/s390x)"},
	} {
		if _, err := e.c.PushImage(ctx, tt.o, e.st, nil); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: %v, want %q", tt.o, err, tt.want)
		}
	}
}
