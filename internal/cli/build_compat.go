package cli

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/berth-dev/berth/internal/build"
	"github.com/berth-dev/berth/internal/sandbox"
	"github.com/berth-dev/berth/internal/untrusted"
	"github.com/docker/go-units"
	"github.com/spf13/pflag"
)

// The flags of `docker build` (the legacy builder) and `docker buildx
// build` that CI files carry. Each either does what it says or is a no-op
// because of how berth works; the help text of each says which, and the
// README lists them. None is refused as an unknown flag.
type buildCompatFlags struct {
	// buildx
	load        bool
	provenance  string // "", "true", "false", "mode=min|max", "1", "0"
	sbom        string // "", "true", "false", "generator=…"
	attests     []string
	annotations []string
	allow       []string
	builder     string
	call        string

	// the legacy builder
	rm, forceRm, compress, squash  bool
	shmSize, memory, memorySwap    string
	ulimits                        []string
	cgroupParent, isolation        string
	cpuShares, cpuPeriod, cpuQuota int64
	cpusetCPUs, cpusetMems         string
	disableContentTrust            bool
}

func addBuildCompatFlags(fl *pflag.FlagSet, c *buildCompatFlags) {
	// buildx
	fl.BoolVar(&c.load, "load", false, "Shorthand for --output=type=docker: berth always records the image in its store, so this only states the default")
	fl.StringVar(&c.provenance, "provenance", "", `Attach an SLSA provenance attestation, as BuildKit does (shorthand for --attest=type=provenance; "true", "false", "mode=min|max")`)
	fl.StringVar(&c.sbom, "sbom", "", `Attach an SPDX SBOM attestation made from berth's package inventory (shorthand for --attest=type=sbom; "true", "false")`)
	fl.StringArrayVar(&c.attests, "attest", nil, `Attestation parameters (format: "type=sbom", "type=provenance,mode=max", "type=sbom,disabled=true")`)
	fl.StringArrayVar(&c.annotations, "annotation", nil, `Add an annotation to the image (format: "key=value", "manifest:key=value", "index:key=value", "manifest-descriptor:key=value")`)
	fl.StringArrayVar(&c.allow, "allow", nil, `Allow an entitlement ("network.host", "security.insecure"): accepted; berth's RUN has the host network with --network host and needs no grant`)
	fl.StringVar(&c.builder, "builder", "", "Override the configured builder instance: accepted and ignored, berth is its own single builder")
	fl.StringVar(&c.call, "call", "build", `Set method for evaluating build ("build", "check": the build checks, as berth lint; "check,format=json")`)
	// the legacy builder
	fl.BoolVar(&c.rm, "rm", true, "Remove intermediate containers after a successful build: always true, berth's RUN leaves no container behind")
	fl.BoolVar(&c.forceRm, "force-rm", false, "Always remove intermediate containers: always the case in berth")
	fl.BoolVar(&c.compress, "compress", false, "Compress the build context using gzip: a no-op, berth reads the context where it is and sends it nowhere")
	fl.BoolVar(&c.squash, "squash", false, "Squash newly built layers into a single new layer")
	fl.StringVar(&c.shmSize, "shm-size", "", `Size of RUN's "/dev/shm" (default 64MiB)`)
	fl.StringArrayVar(&c.ulimits, "ulimit", nil, `Ulimit options for RUN (format: "nofile=1024:2048")`)
	fl.StringVarP(&c.memory, "memory", "m", "", "Memory limit: accepted and not enforced, berth runs RUN in no cgroup of its own")
	fl.StringVar(&c.memorySwap, "memory-swap", "", "Swap limit: accepted and not enforced (see --memory)")
	fl.StringVar(&c.cgroupParent, "cgroup-parent", "", "Parent cgroup for RUN: accepted and ignored, berth runs RUN in the caller's cgroup")
	fl.StringVar(&c.isolation, "isolation", "", `Container isolation technology: "default" (the only one on Linux, as in Docker)`)
	fl.Int64VarP(&c.cpuShares, "cpu-shares", "c", 0, "CPU shares: accepted and not enforced (see --memory)")
	fl.Int64Var(&c.cpuPeriod, "cpu-period", 0, "CPU CFS period: accepted and not enforced (see --memory)")
	fl.Int64Var(&c.cpuQuota, "cpu-quota", 0, "CPU CFS quota: accepted and not enforced (see --memory)")
	fl.StringVar(&c.cpusetCPUs, "cpuset-cpus", "", "CPUs in which to allow execution: accepted and not enforced (see --memory)")
	fl.StringVar(&c.cpusetMems, "cpuset-mems", "", "MEMs in which to allow execution: accepted and not enforced (see --memory)")
	fl.BoolVar(&c.disableContentTrust, "disable-content-trust", true, "Skip image verification (accepted for Docker compatibility)")
}

// buildCompat is the checked form of the compatibility flags.
type buildCompat struct {
	attest      build.Attest
	annotations build.Annotations
	shmSize     int64 // --shm-size in bytes; 0: the sandbox's 64 MiB
	ulimits     []sandbox.Ulimit
	call        string // "build" or "check"
	callFormat  string // --call=check,format=json|text|sarif
}

// parseBuildCompat checks the flags the way buildx and the legacy builder
// do, so a typo fails before any work (exit 125).
func parseBuildCompat(c buildCompatFlags) (buildCompat, error) {
	var out buildCompat
	bad := func(flag, v, why string) error {
		return usageError{fmt.Errorf("invalid %s %s: %s", flag, untrusted.Quote(v), why)}
	}
	// --attest first, then --sbom and --provenance, which buildx treats
	// as shorthands of it.
	var sbom, prov bool
	mode := ""
	for _, a := range c.attests {
		kv, err := csvKV(a)
		if err != nil {
			return out, bad("--attest", a, err.Error())
		}
		on, err := notDisabled(kv)
		if err != nil {
			return out, bad("--attest", a, err.Error())
		}
		switch kv["type"] {
		case "sbom":
			sbom = on
		case "provenance":
			prov = on
			mode = kv["mode"]
		default:
			return out, bad("--attest", a, `type must be "sbom" or "provenance"`)
		}
	}
	if c.sbom != "" {
		on, _, err := boolOrKV(c.sbom)
		if err != nil {
			return out, bad("--sbom", c.sbom, err.Error())
		}
		sbom = on
	}
	if c.provenance != "" {
		on, kv, err := boolOrKV(c.provenance)
		if err != nil {
			return out, bad("--provenance", c.provenance, err.Error())
		}
		prov, mode = on, kv["mode"]
	}
	out.attest.SBOM = sbom
	if prov {
		switch mode {
		case "":
			mode = "min"
		case "min", "max":
		default:
			return out, bad("--provenance", mode, `mode must be "min" or "max"`)
		}
		out.attest.Provenance = mode
	}
	anns, err := parseAnnotations(c.annotations)
	if err != nil {
		return out, err
	}
	out.annotations = anns
	for _, e := range c.allow {
		switch e {
		case "network.host", "security.insecure", "device", "ssh":
		default:
			if !strings.HasPrefix(e, "fs") && !strings.HasPrefix(e, "device=") {
				return out, bad("--allow", e, `entitlements are "network.host", "security.insecure", "device", "fs=PATH"`)
			}
		}
	}
	// --call=check[,format=json] runs the build checks (berth lint) and no
	// build, as buildx does; "outline" and "targets" need BuildKit's
	// frontend subrequests, which berth does not answer.
	callType, callOpts, _ := strings.Cut(c.call, ",")
	switch callType {
	case "", "build":
		out.call = "build"
	case "check":
		out.call = "check"
		if callOpts != "" {
			kv, err := csvKV(callOpts)
			if err != nil {
				return out, bad("--call", c.call, err.Error())
			}
			out.callFormat = kv["format"]
		}
		switch out.callFormat {
		case "", "text", "json", "sarif":
		default:
			return out, bad("--call", c.call, `format must be "text", "json" or "sarif"`)
		}
	default:
		return out, bad("--call", c.call, `berth answers "build" and "check" (the build checks, as berth lint)`)
	}
	switch c.isolation {
	case "", "default":
	default:
		return out, bad("--isolation", c.isolation, `Linux has only "default" isolation`)
	}
	if c.shmSize != "" {
		n, err := units.RAMInBytes(c.shmSize)
		if err != nil || n <= 0 {
			return out, bad("--shm-size", c.shmSize, "want a size such as 64m or 1g")
		}
		out.shmSize = n
	}
	for _, v := range []struct{ flag, val string }{{"--memory", c.memory}, {"--memory-swap", c.memorySwap}} {
		if v.val == "" || v.val == "-1" {
			continue
		}
		if _, err := units.RAMInBytes(v.val); err != nil {
			return out, bad(v.flag, v.val, "want a size such as 512m or 2g")
		}
	}
	for _, u := range c.ulimits {
		ul, err := units.ParseUlimit(u)
		if err != nil {
			return out, bad("--ulimit", u, err.Error())
		}
		rl, err := ul.GetRlimit()
		if err != nil {
			return out, bad("--ulimit", u, err.Error())
		}
		out.ulimits = append(out.ulimits, sandbox.Ulimit{Resource: rl.Type, Soft: rl.Soft, Hard: rl.Hard})
	}
	return out, nil
}

// boolOrKV reads buildx's --sbom/--provenance value: a boolean, or
// key=value pairs that mean "on".
func boolOrKV(s string) (bool, map[string]string, error) {
	if b, err := strconv.ParseBool(s); err == nil {
		return b, nil, nil
	}
	kv, err := csvKV(s)
	if err != nil {
		return false, nil, err
	}
	on, err := notDisabled(kv)
	return on, kv, err
}

// notDisabled reads buildx's "disabled=true" key of an attestation.
func notDisabled(kv map[string]string) (bool, error) {
	d, ok := kv["disabled"]
	if !ok {
		return true, nil
	}
	b, err := strconv.ParseBool(d)
	if err != nil {
		return false, fmt.Errorf("disabled must be true or false")
	}
	return !b, nil
}

func csvKV(s string) (map[string]string, error) {
	kv := map[string]string{}
	for _, part := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("want key=value pairs separated by commas")
		}
		kv[strings.ToLower(k)] = v
	}
	return kv, nil
}

// parseAnnotations reads buildx's --annotation values: "key=value" goes on
// the image manifest; a "manifest:", "index:" or "manifest-descriptor:"
// prefix (with an optional "[platform]", accepted for the one platform
// berth builds) says where.
func parseAnnotations(vals []string) (build.Annotations, error) {
	set := build.Annotations{Manifest: map[string]string{}, Index: map[string]string{}, ManifestDescriptor: map[string]string{}}
	for _, a := range vals {
		k, v, ok := strings.Cut(a, "=")
		if !ok || k == "" {
			return set, usageError{fmt.Errorf("invalid --annotation %s: want key=value", untrusted.Quote(a))}
		}
		where := "manifest"
		if typ, key, ok := strings.Cut(k, ":"); ok && !strings.Contains(typ, ".") {
			if i := strings.IndexByte(typ, '['); i >= 0 && strings.HasSuffix(typ, "]") {
				typ = typ[:i]
			}
			where, k = typ, key
		}
		switch where {
		case "manifest":
			set.Manifest[k] = v
		case "index":
			set.Index[k] = v
		case "manifest-descriptor":
			set.ManifestDescriptor[k] = v
		case "index-descriptor":
			// berth writes no OCI layout around the index to carry it.
			return set, usageError{fmt.Errorf("invalid --annotation %s: index-descriptor annotations go with --output type=oci, which berth writes without them", untrusted.Quote(a))}
		default:
			return set, usageError{fmt.Errorf("invalid --annotation %s: unknown type %s (want manifest, index or manifest-descriptor)", untrusted.Quote(a), untrusted.Quote(where))}
		}
	}
	return set, nil
}
