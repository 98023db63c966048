package engineapi

import (
	"bufio"
	"context"
	"net/http"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/berth-dev/berth/internal/remote"
	"github.com/berth-dev/berth/internal/store"
	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/api/types/system"
	"golang.org/x/sys/unix"
)

// ping answers GET and HEAD /_ping with the daemon's headers: the API
// version (set for every response), Builder-Version 1 (berth serves the
// classic build API, not BuildKit's session protocol) and Swarm inactive.
func (s *Server) ping(w http.ResponseWriter, r *http.Request, _ string) error {
	h := w.Header()
	h.Add("Cache-Control", "no-cache, no-store, must-revalidate")
	h.Add("Pragma", "no-cache")
	h.Set("Builder-Version", "1")
	h.Set("Swarm", string(swarm.LocalNodeStateInactive))
	h.Set("Content-Type", "text/plain; charset=utf-8")
	if r.Method == http.MethodHead {
		h.Set("Content-Length", "0")
		w.WriteHeader(http.StatusOK)
		return nil
	}
	w.WriteHeader(http.StatusOK)
	_, err := w.Write([]byte("OK"))
	return err
}

func kernelVersion() string {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
}

// osName is /etc/os-release's PRETTY_NAME, as docker info shows it.
func osName() string {
	f, err := os.Open("/etc/os-release")
	if err != nil {
		return runtime.GOOS
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "PRETTY_NAME="); ok {
			return strings.Trim(v, `"'`)
		}
	}
	return runtime.GOOS
}

// version answers /version: the daemon's shape, with berth as the one
// component named "Engine" (the docker CLI prints the server section from
// it).
func (s *Server) version(w http.ResponseWriter, r *http.Request, _ string) error {
	kv := kernelVersion()
	v := system.VersionResponse{
		Platform:      system.PlatformInfo{Name: "berth"},
		Version:       s.cfg.Version,
		APIVersion:    APIVersion,
		MinAPIVersion: MinAPIVersion,
		Os:            runtime.GOOS,
		Arch:          runtime.GOARCH,
		GoVersion:     runtime.Version(),
		KernelVersion: kv,
		Components: []system.ComponentVersion{{
			Name:    "Engine",
			Version: s.cfg.Version,
			Details: map[string]string{
				"ApiVersion":    APIVersion,
				"MinAPIVersion": MinAPIVersion,
				"Os":            runtime.GOOS,
				"Arch":          runtime.GOARCH,
				"GoVersion":     runtime.Version(),
				"KernelVersion": kv,
				"Experimental":  "false",
			},
		}},
	}
	return writeJSON(w, http.StatusOK, v)
}

// info answers /info. Counts of containers are 0; Swarm is inactive, which
// tells clients not to ask for swarm objects.
func (s *Server) info(w http.ResponseWriter, r *http.Request, _ string) error {
	ctx := r.Context()
	st, err := s.cfg.OpenStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	var set *remote.Settings
	if s.cfg.Remote != nil {
		if c, err := s.cfg.Remote(nil); err == nil {
			rs := c.Settings()
			set = &rs
		}
	}
	info, err := Info(ctx, st, s.cfg.Version, set)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, info)
}

// Info is what the daemon's /info reports, for berth's store: GET /info and
// `berth info` both print it. set is berth's registry settings (nil: none).
func Info(ctx context.Context, st *store.Store, version string, set *remote.Settings) (system.Info, error) {
	imgs, err := st.Images(ctx)
	if err != nil {
		return system.Info{}, err
	}
	host, _ := os.Hostname()
	var si unix.Sysinfo_t
	_ = unix.Sysinfo(&si)
	return system.Info{
		ID:                 "berth",
		Images:             len(imgs),
		Driver:             "berth",
		DriverStatus:       [][2]string{{"Root Dir", st.Root()}},
		Plugins:            system.PluginsInfo{Volume: []string{}, Network: []string{}, Log: []string{}},
		SystemTime:         time.Now().Format(time.RFC3339Nano),
		LoggingDriver:      "none",
		CgroupDriver:       "none",
		KernelVersion:      kernelVersion(),
		OperatingSystem:    osName(),
		OSVersion:          "",
		OSType:             runtime.GOOS,
		Architecture:       unameMachine(),
		IndexServerAddress: "https://index.docker.io/v1/",
		NCPU:               runtime.NumCPU(),
		MemTotal:           int64(si.Totalram) * int64(si.Unit),
		DockerRootDir:      st.Root(),
		HTTPProxy:          os.Getenv("HTTP_PROXY"),
		HTTPSProxy:         os.Getenv("HTTPS_PROXY"),
		NoProxy:            os.Getenv("NO_PROXY"),
		Name:               host,
		Labels:             []string{},
		ServerVersion:      version,
		Runtimes:           map[string]system.RuntimeWithStatus{},
		Swarm:              swarm.Info{LocalNodeState: swarm.LocalNodeStateInactive},
		SecurityOptions:    []string{},
		CDISpecDirs:        []string{},
		Warnings:           []string{},
		RegistryConfig:     serviceConfig(set),
	}, nil
}

func unameMachine() string {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return runtime.GOARCH
	}
	return unix.ByteSliceToString(u.Machine[:])
}

// serviceConfig reports berth's registry settings as the daemon reports
// daemon.json's: insecure registries (loopback always) and mirrors.
func serviceConfig(set *remote.Settings) *registry.ServiceConfig {
	rc := &registry.ServiceConfig{
		InsecureRegistryCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")},
		IndexConfigs: map[string]*registry.IndexInfo{
			"docker.io": {Name: "docker.io", Mirrors: []string{}, Secure: true, Official: true},
		},
		Mirrors: []string{},
	}
	if set == nil {
		return rc
	}
	rc.Mirrors = append(rc.Mirrors, set.RegistryMirrors...)
	rc.IndexConfigs["docker.io"].Mirrors = append([]string{}, set.RegistryMirrors...)
	for _, r := range set.InsecureRegistries {
		if p, err := netip.ParsePrefix(r); err == nil {
			rc.InsecureRegistryCIDRs = append(rc.InsecureRegistryCIDRs, p)
			continue
		}
		rc.IndexConfigs[r] = &registry.IndexInfo{Name: r, Mirrors: []string{}, Secure: false}
	}
	return rc
}
