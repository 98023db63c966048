package registry_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/berth-dev/berth/internal/testenv"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.StopShared()
	os.Exit(code)
}

// replicas are `berth registry serve` processes on one bucket, behind a
// round-robin proxy that, like a load balancer's health check, stops
// sending to a replica whose port refuses connections.
type replicas struct {
	sw     *testenv.SeaweedFS
	bucket string
	args   []string
	nodes  []*served
	proxy  *rrProxy
}

func s3Args(sw *testenv.SeaweedFS, bucket string) []string {
	return []string{"--storage", "s3", "--s3-bucket", bucket, "--s3-endpoint", sw.Endpoint, "--s3-path-style",
		"--s3-region", sw.Region, "--s3-access-key", sw.AccessKey, "--s3-secret-key", sw.SecretKey}
}

func startReplicas(t *testing.T, sw *testenv.SeaweedFS, n int, args ...string) *replicas {
	t.Helper()
	rs := &replicas{sw: sw, bucket: sw.Bucket(t)}
	rs.args = append(s3Args(sw, rs.bucket), args...)
	rs.proxy = newRRProxy(t)
	for i := 0; i < n; i++ {
		rs.nodes = append(rs.nodes, nil)
		rs.start(t, i)
	}
	return rs
}

// start (re)starts replica i and puts it behind the proxy.
func (rs *replicas) start(t *testing.T, i int) {
	t.Helper()
	args := append([]string{"registry", "serve", "--addr", "127.0.0.1:0"}, rs.args...)
	rs.nodes[i] = serveCmd(t, exec.Command(testenv.Berth(t), args...))
	rs.proxy.set(i, rs.nodes[i].addr)
}

func (rs *replicas) url(i int) string { return "http://" + rs.nodes[i].addr }

// rrProxy is a round-robin reverse proxy over the replicas.
type rrProxy struct {
	srv      *httptest.Server
	mu       sync.Mutex
	backends []string
	down     map[string]bool
	next     atomic.Uint64
	uploads  atomic.Int64 // blob uploads completed through it
}

func newRRProxy(t *testing.T) *rrProxy {
	p := &rrProxy{down: map[string]bool{}}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.Out.URL.Scheme = "http"
			r.Out.URL.Host = r.In.Host
			r.Out.Host = r.In.Host
		},
		FlushInterval: -1,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			var op *net.OpError
			if errors.As(err, &op) && op.Op == "dial" {
				p.mu.Lock()
				p.down[r.URL.Host] = true
				p.mu.Unlock()
			}
			w.WriteHeader(http.StatusBadGateway)
		},
		ModifyResponse: func(res *http.Response) error {
			if res.Request.Method == http.MethodPut && strings.Contains(res.Request.URL.Path, "/blobs/uploads/") && res.StatusCode == http.StatusCreated {
				p.uploads.Add(1)
			}
			return nil
		},
	}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Host = p.pick()
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *rrProxy) set(i int, addr string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.backends) <= i {
		p.backends = append(p.backends, "")
	}
	p.backends[i] = addr
	delete(p.down, addr)
}

func (p *rrProxy) pick() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	for range p.backends {
		b := p.backends[p.next.Add(1)%uint64(len(p.backends))]
		if !p.down[b] {
			return b
		}
	}
	return p.backends[0]
}

func (p *rrProxy) addr() string { return strings.TrimPrefix(p.srv.URL, "http://") }

// TestReplicasConformance: the OCI conformance suite passes against two
// replicas on one bucket behind the round-robin proxy, so that consecutive
// requests of one push or pull land on different replicas.
func TestReplicasConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the OCI conformance suite")
	}
	suite := conformanceSuite(t)
	sw := testenv.SharedSeaweedFS(t)
	htpasswd := makeHtpasswd(t, "conformance", "c0nf0rm")
	for i, auth := range []bool{false, true} {
		name := "no auth"
		var args []string
		if auth {
			name, args = "htpasswd", []string{"--htpasswd", htpasswd}
		}
		t.Run(name, func(t *testing.T) {
			rs := startReplicas(t, sw, 2, args...)
			runConformance(t, suite, rs.proxy.addr(), "1.1", auth, 10+i)
		})
	}
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

func do(t *testing.T, method, u string, body []byte, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hdr {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	return res, b
}

// TestUploadAcrossReplicas: one upload begun on one replica continues on
// each of the others and finishes on another; its chunks are below and
// above S3's 5 MiB part minimum, and the blob reads back whole (through a
// presigned redirect) and by range from every replica.
func TestUploadAcrossReplicas(t *testing.T) {
	sw := testenv.SharedSeaweedFS(t)
	rs := startReplicas(t, sw, 3)
	chunks := [][]byte{bytes.Repeat([]byte("a"), 100<<10), pattern(6<<20 + 3), []byte("tail of two hundred bytes" + strings.Repeat(".", 175))}
	final := pattern(1024)
	var whole []byte
	for _, c := range chunks {
		whole = append(whole, c...)
	}
	whole = append(whole, final...)
	res, _ := do(t, "POST", rs.url(0)+"/v2/across/blobs/uploads/", nil)
	if res.StatusCode != 202 {
		t.Fatalf("start: %d", res.StatusCode)
	}
	loc := res.Header.Get("Location")
	off := 0
	for i, c := range chunks {
		res, body := do(t, "PATCH", rs.url((i+1)%3)+loc, c, fmt.Sprintf("Content-Range: %d-%d", off, off+len(c)-1), "Content-Type: application/octet-stream")
		if res.StatusCode != 202 {
			t.Fatalf("chunk %d on replica %d: %d %s", i, (i+1)%3, res.StatusCode, body)
		}
		off += len(c)
		loc = res.Header.Get("Location")
	}
	d := sha(whole)
	res, body := do(t, "PUT", rs.url(2)+loc+"?digest="+d, final)
	if res.StatusCode != 201 {
		t.Fatalf("finish on replica 2: %d %s", res.StatusCode, body)
	}
	for i := range rs.nodes {
		res, got := do(t, "GET", rs.url(i)+"/v2/across/blobs/"+d, nil)
		if res.StatusCode != 200 || sha(got) != d {
			t.Fatalf("replica %d: %d, %d bytes, digest %s", i, res.StatusCode, len(got), sha(got))
		}
		res, got = do(t, "GET", rs.url(i)+"/v2/across/blobs/"+d, nil, "Range: bytes=100-199")
		if res.StatusCode != 206 || !bytes.Equal(got, whole[100:200]) {
			t.Fatalf("replica %d range: %d %q", i, res.StatusCode, got)
		}
	}
	// The upload session is gone on every replica.
	if res, _ := do(t, "GET", rs.url(1)+loc, nil); res.StatusCode != 404 {
		t.Fatalf("finished upload still there: %d", res.StatusCode)
	}
}

// pushBlobTo uploads b in one POST.
func pushBlobTo(t *testing.T, base, repo string, b []byte) string {
	t.Helper()
	d := sha(b)
	res, body := do(t, "POST", base+"/v2/"+repo+"/blobs/uploads/?digest="+d, b)
	if res.StatusCode != 201 {
		t.Fatalf("push blob: %d %s", res.StatusCode, body)
	}
	return d
}

func ociManifest(config, layer string, configSize, layerSize int, note string) []byte {
	m := map[string]any{
		"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config":      map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": configSize},
		"layers":      []any{map[string]any{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer, "size": layerSize}},
		"annotations": map[string]string{"note": note},
	}
	b, _ := json.Marshal(m)
	return b
}

// TestConcurrentTagUpdates: 200 pushes of one tag at once, spread over
// three replicas, each with its own manifest. Tags and manifests of a
// repository live in one object updated by compare-and-swap, so a lost
// update would drop a manifest: all 200 must be there, and the tag must
// name one of them.
func TestConcurrentTagUpdates(t *testing.T) {
	sw := testenv.SharedSeaweedFS(t)
	rs := startReplicas(t, sw, 3)
	cfg, layer := []byte(`{"architecture":"amd64","os":"linux"}`), []byte("layer bytes")
	cd, ld := pushBlobTo(t, rs.url(0), "cas/app", cfg), pushBlobTo(t, rs.url(0), "cas/app", layer)
	const n = 200
	digests := make([]string, n)
	var wg sync.WaitGroup
	errs := make(chan string, n)
	for i := 0; i < n; i++ {
		m := ociManifest(cd, ld, len(cfg), len(layer), fmt.Sprint(i))
		digests[i] = sha(m)
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("PUT", rs.url(i%3)+"/v2/cas/app/manifests/latest", bytes.NewReader(m))
			req.Header.Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				errs <- err.Error()
				return
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != 201 {
				errs <- fmt.Sprintf("push %d: %d %s", i, res.StatusCode, b)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if t.Failed() {
		for i, n := range rs.nodes {
			t.Logf("replica %d:\n%s", i, grepLines(n.logText(), "error", 5))
		}
		return
	}
	for i, d := range digests {
		if res, _ := do(t, "HEAD", rs.url(i%3)+"/v2/cas/app/manifests/"+d, nil); res.StatusCode != 200 {
			t.Errorf("manifest %d (%s) lost: %d", i, d, res.StatusCode)
		}
	}
	res, _ := do(t, "HEAD", rs.url(1)+"/v2/cas/app/manifests/latest", nil)
	got := res.Header.Get("Docker-Content-Digest")
	found := false
	for _, d := range digests {
		found = found || d == got
	}
	if !found {
		t.Fatalf("latest is %q, none of the pushed manifests", got)
	}
}

// TestReplicaKilledMidPush: a replica is killed while an image is pushed
// through the proxy; the client (go-containerregistry's, crane's) retries,
// the request lands on the other replica, which continues the same upload
// sessions from the bucket, and the push completes.
func TestReplicaKilledMidPush(t *testing.T) {
	sw := testenv.SharedSeaweedFS(t)
	rs := startReplicas(t, sw, 2)
	img := randomImage(t, 12, 1<<20)
	done := make(chan error, 1)
	go func() { done <- pushImage(rs.proxy.addr()+"/killed/app:v1", img) }()
	deadline := time.After(60 * time.Second)
	for rs.proxy.uploads.Load() < 3 {
		select {
		case err := <-done:
			t.Fatalf("push ended before the kill: %v", err)
		case <-deadline:
			t.Fatal("no uploads in 60s")
		case <-time.After(5 * time.Millisecond):
		}
	}
	rs.nodes[0].stop(t, syscall.SIGKILL)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("push with a replica killed: %v\nsurvivor log:\n%s", err, lastLines(rs.nodes[1].logText(), 20))
		}
	case <-time.After(90 * time.Second):
		t.Fatal("push did not finish")
	}
	checkImage(t, "http://"+rs.nodes[1].addr, "killed/app", "v1", img)
}

// TestEngineRestartUnderLoad: with pushes and pulls running on two
// replicas, the object store is killed: requests fail fast with 503, never
// 500; when it comes back the replicas serve again by themselves, and
// every tag that is listed can be pulled whole.
func TestEngineRestartUnderLoad(t *testing.T) {
	sw := testenv.StartSeaweedFS(t)
	rs := startReplicas(t, sw, 2)
	cfg := []byte(`{"architecture":"amd64","os":"linux"}`)
	cd := pushBlobTo(t, rs.url(0), "load/app", cfg)

	var outage atomic.Bool
	type result struct {
		code     int
		dur      time.Duration
		inOutage bool
	}
	results := make(chan result, 100000)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var pushed atomic.Int64
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := &http.Client{Timeout: 30 * time.Second}
			for i := 0; ctx.Err() == nil; i++ {
				base := rs.url((w + i) % 2)
				start := time.Now()
				layer := []byte(fmt.Sprintf("layer %d-%d", w, i))
				req, _ := http.NewRequest("POST", base+"/v2/load/app/blobs/uploads/?digest="+sha(layer), bytes.NewReader(layer))
				res, err := cl.Do(req)
				if err != nil {
					t.Errorf("request error: %v", err)
					return
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				code := res.StatusCode
				if code == 201 {
					m := ociManifest(cd, sha(layer), len(cfg), len(layer), "")
					req, _ = http.NewRequest("PUT", base+fmt.Sprintf("/v2/load/app/manifests/t%d-%d", w, i), bytes.NewReader(m))
					req.Header.Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
					if res, err = cl.Do(req); err != nil {
						t.Errorf("request error: %v", err)
						return
					}
					io.Copy(io.Discard, res.Body)
					res.Body.Close()
					code = res.StatusCode
					if code == 201 {
						pushed.Add(1)
					}
				}
				results <- result{code, time.Since(start), outage.Load()}
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}
	time.Sleep(2 * time.Second)
	outage.Store(true)
	sw.Stop(t)
	time.Sleep(5 * time.Second)
	sw.Start(t)
	outage.Store(false)
	recovered := time.Now()
	before := pushed.Load()
	for pushed.Load() < before+10 {
		if time.Since(recovered) > 30*time.Second {
			t.Fatal("no push succeeded within 30s of the store's return")
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("recovered %v after the store came back", time.Since(recovered).Round(time.Millisecond))
	cancel()
	wg.Wait()
	close(results)
	var n503, nOK int
	var slowest time.Duration
	for r := range results {
		switch {
		case r.code == 201:
			nOK++
		case r.code == 503:
			n503++
			slowest = max(slowest, r.dur)
		default:
			t.Errorf("status %d (in outage: %v)", r.code, r.inOutage)
		}
	}
	if n503 == 0 || nOK == 0 {
		t.Fatalf("%d ok, %d 503: the outage was not seen", nOK, n503)
	}
	if slowest > 15*time.Second {
		t.Errorf("a 503 took %v: not failing fast", slowest)
	}
	t.Logf("%d pushes ok, %d answered 503 (slowest %v)", nOK, n503, slowest)
	if t.Failed() {
		for i, n := range rs.nodes {
			t.Logf("replica %d:\n%s", i, grepLines(n.logText(), "ERROR", 5))
		}
	}
	// Nothing half-written is visible: every listed tag pulls whole.
	res, body := do(t, "GET", rs.url(1)+"/v2/load/app/tags/list", nil)
	var tl struct{ Tags []string }
	json.Unmarshal(body, &tl)
	if res.StatusCode != 200 || len(tl.Tags) == 0 {
		t.Fatalf("tags: %d %s", res.StatusCode, body)
	}
	for _, tag := range tl.Tags {
		res, m := do(t, "GET", rs.url(0)+"/v2/load/app/manifests/"+tag, nil, "Accept: application/vnd.oci.image.manifest.v1+json")
		if res.StatusCode != 200 {
			t.Fatalf("listed tag %s: %d", tag, res.StatusCode)
		}
		var doc struct{ Layers []struct{ Digest string } }
		json.Unmarshal(m, &doc)
		if res, _ := do(t, "HEAD", rs.url(1)+"/v2/load/app/blobs/"+doc.Layers[0].Digest, nil); res.StatusCode != 200 {
			t.Fatalf("tag %s's layer: %d", tag, res.StatusCode)
		}
	}
}

// pattern is n pseudo-random bytes.
func pattern(n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(uint64(n), 1))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func randomImage(t *testing.T, layers int, size int64) v1.Image {
	t.Helper()
	img, err := random.Image(size, int64(layers))
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// pushImage pushes img with go-containerregistry's client and its retries.
func pushImage(ref string, img v1.Image) error {
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		return err
	}
	return remote.Write(r, img, remote.WithJobs(2))
}

// checkImage pulls ref from base and checks every byte against img.
func checkImage(t *testing.T, base, repo, tag string, img v1.Image) {
	t.Helper()
	r, err := name.ParseReference(strings.TrimPrefix(base, "http://")+"/"+repo+":"+tag, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	got, err := remote.Image(r)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(got); err != nil {
		t.Fatalf("pulled image: %v", err)
	}
	gd, _ := got.Digest()
	wd, _ := img.Digest()
	if gd != wd {
		t.Fatalf("pulled %s, pushed %s", gd, wd)
	}
}

func grepLines(s, word string, n int) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, word) && len(out) < n {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestGCLeaseDuringPushLoop: `berth registry gc` runs against the bucket
// while two replicas take pushes that re-link the very blobs it is about to
// sweep (the dangerous case: a blob unreferenced at marking, referenced
// again before deletion). With the lease held to the end it sweeps the
// garbage nothing re-linked and nothing a push references; with the lease
// stolen mid-collection it stops sweeping and says so. Either way every
// tag pushed pulls whole afterwards.
func TestGCLeaseDuringPushLoop(t *testing.T) {
	sw := testenv.SharedSeaweedFS(t)
	rs := startReplicas(t, sw, 2, "--gc-lease-ttl", "4s")
	cfg := []byte(`{"architecture":"amd64","os":"linux"}`)
	cd := pushBlobTo(t, rs.url(0), "gcl/app", cfg)
	var junk [][]byte
	for i := 0; i < 30; i++ {
		b := []byte(fmt.Sprintf("junk layer %d", i))
		d := pushBlobTo(t, rs.url(0), "gcl/app", b)
		if res, _ := do(t, "DELETE", rs.url(1)+"/v2/gcl/app/blobs/"+d, nil); res.StatusCode != 202 {
			t.Fatalf("unlink: %d", res.StatusCode)
		}
		junk = append(junk, b)
	}
	gc := func(ctx context.Context) testenv.Result {
		args := append([]string{"registry", "gc", "--delay", "0", "--gc-lease-ttl", "4s"}, s3Args(sw, rs.bucket)...)
		return testenv.Run(t, testenv.Berth(t), testenv.Cmd{Args: args})
	}
	type pushed struct{ tag, layer string }
	loop := func(stop <-chan struct{}) []pushed {
		var mu sync.Mutex
		var out []pushed
		var wg sync.WaitGroup
		for w := 0; w < 3; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					b := junk[(w*7+i)%10] // only the first ten are re-pushed
					base := rs.url((w + i) % 2)
					res, _ := do(t, "POST", base+"/v2/gcl/app/blobs/uploads/?digest="+sha(b), b)
					if res.StatusCode == 503 {
						continue
					}
					if res.StatusCode != 201 {
						t.Errorf("re-push: %d", res.StatusCode)
						return
					}
					tag := fmt.Sprintf("t%d-%d-%d", w, i, time.Now().UnixNano())
					res, body := do(t, "PUT", base+"/v2/gcl/app/manifests/"+tag, ociManifest(cd, sha(b), len(cfg), len(b), tag), "Content-Type: application/vnd.oci.image.manifest.v1+json")
					switch res.StatusCode {
					case 201:
						mu.Lock()
						out = append(out, pushed{tag, sha(b)})
						mu.Unlock()
					case 503:
					default:
						t.Errorf("manifest: %d %s", res.StatusCode, body)
						return
					}
				}
			}()
		}
		wg.Wait()
		return out
	}
	checkAll := func(ps []pushed) {
		t.Helper()
		if len(ps) == 0 {
			t.Fatal("no push went through during the collection")
		}
		for _, p := range ps {
			if res, _ := do(t, "GET", rs.url(0)+"/v2/gcl/app/manifests/"+p.tag, nil); res.StatusCode != 200 {
				t.Fatalf("tag %s: %d", p.tag, res.StatusCode)
			}
			if res, _ := do(t, "GET", rs.url(1)+"/v2/gcl/app/blobs/"+p.layer, nil); res.StatusCode != 200 {
				t.Fatalf("tag %s's layer %s was swept: %d", p.tag, p.layer, res.StatusCode)
			}
		}
	}
	s3c := sw.Client()
	blobExists := func(b []byte) bool {
		h := sha(b)[len("sha256:"):]
		_, err := s3c.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &rs.bucket, Key: aws.String("blobs/sha256/" + h[:2] + "/" + h)})
		return err == nil
	}

	t.Run("lease lost", func(t *testing.T) {
		stop := make(chan struct{})
		res := make(chan []pushed, 1)
		go func() { res <- loop(stop) }()
		gcDone := make(chan testenv.Result, 1)
		go func() { gcDone <- gc(context.Background()) }()
		// Steal the lease as soon as the collector announces its deletion.
		for stolen := false; !stolen; {
			out, err := s3c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: &rs.bucket, Key: aws.String("gc/lease.json")})
			if err == nil {
				b, _ := io.ReadAll(out.Body)
				out.Body.Close()
				if bytes.Contains(b, []byte(`"deleting"`)) {
					thief := fmt.Sprintf(`{"holder":"thief","state":"marking","expires":%q}`, time.Now().Add(time.Minute).Format(time.RFC3339Nano))
					s3c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: &rs.bucket, Key: aws.String("gc/lease.json"), Body: strings.NewReader(thief)})
					stolen = true
				}
			}
			select {
			case r := <-gcDone:
				t.Fatalf("gc ended before the steal: %d %s%s", r.Code, r.Stdout, r.Stderr)
			case <-time.After(20 * time.Millisecond):
			}
		}
		r := <-gcDone
		close(stop)
		ps := <-res
		if r.Code == 0 || !strings.Contains(r.Stderr, "lost the GC lease") {
			t.Fatalf("gc after losing its lease: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
		}
		if strings.Contains(r.Stdout, "deleted blob") {
			t.Fatalf("gc deleted after losing its lease:\n%s", r.Stdout)
		}
		checkAll(ps)
		// Free the lease for the next collection.
		idle := fmt.Sprintf(`{"holder":"thief","state":"idle","expires":%q}`, time.Now().Format(time.RFC3339Nano))
		s3c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: &rs.bucket, Key: aws.String("gc/lease.json"), Body: strings.NewReader(idle)})
	})

	t.Run("lease held", func(t *testing.T) {
		stop := make(chan struct{})
		res := make(chan []pushed, 1)
		go func() { res <- loop(stop) }()
		time.Sleep(300 * time.Millisecond)
		r := gc(context.Background())
		close(stop)
		ps := <-res
		if r.Code != 0 {
			t.Fatalf("gc: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
		}
		checkAll(ps)
		for i, b := range junk[10:] {
			if blobExists(b) {
				t.Errorf("garbage blob %d survived:\n%s", i+10, r.Stdout)
			}
		}
		t.Logf("%d pushes during the collection; gc:\n%s", len(ps), lastLines(r.Stdout, 3))
	})
}
