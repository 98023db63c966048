package seccomp

import (
	"encoding/binary"
	"math/rand"
	"strings"
	"testing"

	"github.com/elastic/go-seccomp-bpf/arch"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// dockerCaps is Docker's default capability set, which berth grants RUN.
var dockerCaps = []string{"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"}

// call is one system call as the kernel shows it to a filter.
type call struct {
	arch uint32
	nr   uint32
	args [6]uint64
}

// run evaluates the program on c in x/net/bpf's interpreter. Its loads
// are big-endian (it is made for packets), so each 32-bit field is
// written big-endian to read back as the kernel's native word.
func run(t *testing.T, p *Program, c call) uint32 {
	t.Helper()
	ins := make([]bpf.Instruction, len(p.Instructions))
	for i, r := range p.Instructions {
		ins[i] = r.Disassemble()
	}
	vm, err := bpf.NewVM(ins)
	if err != nil {
		t.Fatalf("the program does not load: %v", err)
	}
	data := make([]byte, 64)
	binary.BigEndian.PutUint32(data[0:], c.nr)
	binary.BigEndian.PutUint32(data[4:], c.arch)
	for i, a := range c.args {
		binary.BigEndian.PutUint32(data[16+8*i:], uint32(a))
		binary.BigEndian.PutUint32(data[20+8*i:], uint32(a>>32))
	}
	got, err := vm.Run(data)
	if err != nil {
		t.Fatal(err)
	}
	return uint32(got)
}

func compile(t *testing.T, profile, goarch string, caps []string) *Program {
	t.Helper()
	f, err := Load([]byte(profile), caps)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Compile(f, goarch)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func nr(t *testing.T, a *arch.Info, name string) uint32 {
	t.Helper()
	for n, s := range a.SyscallNumbers {
		if s == name && (a != arch.X32 || n >= 512 || name != "rt_sigaction") {
			return uint32(n)
		}
	}
	t.Fatalf("no %s on %s", name, a.Name)
	return 0
}

const (
	allow = retAllow
	eperm = retErrno | uint32(unix.EPERM)
	enosy = retErrno | uint32(unix.ENOSYS)
	kill  = retKillProcess
)

// TestDefaultProfile: Docker's default profile as berth compiles it, on
// each ABI an amd64 or arm64 kernel runs.
func TestDefaultProfile(t *testing.T) {
	x86, i386, x32 := uint32(arch.X86_64.ID), uint32(arch.I386.ID), uint32(arch.X32.ID)
	amd := compile(t, "", "amd64", dockerCaps)
	t.Logf("amd64: %d instructions", len(amd.Instructions))
	for _, tc := range []struct {
		name string
		c    call
		want uint32
	}{
		{"read", call{arch: x86, nr: nr(t, arch.X86_64, "read")}, allow},
		{"mount", call{arch: x86, nr: nr(t, arch.X86_64, "mount")}, eperm},
		{"unshare", call{arch: x86, nr: nr(t, arch.X86_64, "unshare")}, eperm},
		{"keyctl", call{arch: x86, nr: nr(t, arch.X86_64, "keyctl")}, eperm},
		{"clone without namespaces", call{arch: x86, nr: nr(t, arch.X86_64, "clone"), args: [6]uint64{uint64(unix.SIGCHLD) | unix.CLONE_VM | unix.CLONE_VFORK}}, allow},
		{"clone with a user namespace", call{arch: x86, nr: nr(t, arch.X86_64, "clone"), args: [6]uint64{uint64(unix.SIGCHLD) | unix.CLONE_NEWUSER}}, eperm},
		{"clone3", call{arch: x86, nr: nr(t, arch.X86_64, "clone3")}, enosy},
		{"personality 0", call{arch: x86, nr: nr(t, arch.X86_64, "personality")}, allow},
		{"personality query", call{arch: x86, nr: nr(t, arch.X86_64, "personality"), args: [6]uint64{0xffffffff}}, allow},
		{"personality other", call{arch: x86, nr: nr(t, arch.X86_64, "personality"), args: [6]uint64{1}}, eperm},
		{"socket inet", call{arch: x86, nr: nr(t, arch.X86_64, "socket"), args: [6]uint64{unix.AF_INET}}, allow},
		{"socket netlink", call{arch: x86, nr: nr(t, arch.X86_64, "socket"), args: [6]uint64{unix.AF_NETLINK}}, allow},
		{"socket vsock", call{arch: x86, nr: nr(t, arch.X86_64, "socket"), args: [6]uint64{unix.AF_VSOCK}}, eperm},
		{"socket with high bits", call{arch: x86, nr: nr(t, arch.X86_64, "socket"), args: [6]uint64{1<<32 | unix.AF_INET}}, eperm},
		{"newer than the profile", call{arch: x86, nr: 1000}, enosy},
		{"i386 read", call{arch: i386, nr: nr(t, arch.I386, "read")}, allow},
		{"i386 mount", call{arch: i386, nr: nr(t, arch.I386, "mount")}, eperm},
		{"i386 socketcall", call{arch: i386, nr: nr(t, arch.I386, "socketcall")}, allow},
		{"x32 read", call{arch: x32, nr: x32Bit | nr(t, arch.X32, "read")}, allow},
		{"x32 rt_sigaction", call{arch: x32, nr: x32Bit | nr(t, arch.X32, "rt_sigaction")}, allow},
		{"x32 mount", call{arch: x32, nr: x32Bit | nr(t, arch.X32, "mount")}, eperm},
		{"foreign architecture", call{arch: uint32(arch.AARCH64.ID), nr: 63}, kill},
	} {
		if got := run(t, amd, tc.c); got != tc.want {
			t.Errorf("amd64 %s: %#x, want %#x", tc.name, got, tc.want)
		}
	}

	// Load picks the profile's archMap entry for the running machine;
	// on arm64 it is this one.
	f, err := Load(nil, dockerCaps)
	if err != nil {
		t.Fatal(err)
	}
	f.Architectures = []specs.Arch{specs.ArchAARCH64, specs.ArchARM}
	arm, err := Compile(f, "arm64")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		c    call
		want uint32
	}{
		{"read", call{arch: uint32(arch.AARCH64.ID), nr: nr(t, arch.AARCH64, "read")}, allow},
		{"mount", call{arch: uint32(arch.AARCH64.ID), nr: nr(t, arch.AARCH64, "mount")}, eperm},
		{"arm read", call{arch: uint32(arch.ARM.ID), nr: nr(t, arch.ARM, "read")}, allow},
		{"arm clone with a pid namespace", call{arch: uint32(arch.ARM.ID), nr: nr(t, arch.ARM, "clone"), args: [6]uint64{unix.CLONE_NEWPID}}, eperm},
		{"x86_64 on arm64", call{arch: x86, nr: 0}, kill},
	} {
		if got := run(t, arm, tc.c); got != tc.want {
			t.Errorf("arm64 %s: %#x, want %#x", tc.name, got, tc.want)
		}
	}

	// CAP_SYS_ADMIN in the set brings the rules Docker gives it.
	admin := compile(t, "", "amd64", append(dockerCaps[:len(dockerCaps):len(dockerCaps)], "CAP_SYS_ADMIN"))
	if got := run(t, admin, call{arch: x86, nr: nr(t, arch.X86_64, "mount")}); got != allow {
		t.Errorf("mount with CAP_SYS_ADMIN: %#x", got)
	}
}

// TestCustomProfiles: profiles written for docker run compile to what
// they say: actions, errno values, precedence, conditions split by
// argument as runc splits them, and no ENOSYS stub under an allowing
// default.
func TestCustomProfiles(t *testing.T) {
	x86 := uint32(arch.X86_64.ID)
	deny := compile(t, `{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"}]}`, "amd64", dockerCaps)
	for _, tc := range []struct {
		c    call
		want uint32
	}{
		{call{arch: x86, nr: nr(t, arch.X86_64, "mkdir")}, eperm},
		{call{arch: x86, nr: nr(t, arch.X86_64, "mkdirat")}, eperm},
		{call{arch: x86, nr: nr(t, arch.X86_64, "read")}, allow},
		{call{arch: x86, nr: 1000}, allow},
		{call{arch: uint32(arch.I386.ID), nr: nr(t, arch.I386, "mkdir")}, kill}, // no architectures listed: native only
	} {
		if got := run(t, deny, tc.c); got != tc.want {
			t.Errorf("deny mkdir, nr %d arch %#x: %#x, want %#x", tc.c.nr, tc.c.arch, got, tc.want)
		}
	}

	prec := compile(t, `{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":38,"architectures":["SCMP_ARCH_X86_64"],"syscalls":[
		{"names":["write"],"action":"SCMP_ACT_ALLOW"},
		{"names":["write"],"action":"SCMP_ACT_ERRNO","errnoRet":13,"args":[{"index":0,"value":7,"op":"SCMP_CMP_EQ"}]},
		{"names":["read"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":1,"op":"SCMP_CMP_EQ"},{"index":0,"value":2,"op":"SCMP_CMP_EQ"}]},
		{"names":["close"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":1,"op":"SCMP_CMP_EQ"},{"index":1,"value":2,"op":"SCMP_CMP_EQ"}]},
		{"names":["getpid"],"action":"SCMP_ACT_KILL"}]}`, "amd64", nil)
	w, r, c := nr(t, arch.X86_64, "write"), nr(t, arch.X86_64, "read"), nr(t, arch.X86_64, "close")
	for _, tc := range []struct {
		name string
		c    call
		want uint32
	}{
		{"allowed", call{arch: x86, nr: w, args: [6]uint64{1}}, allow},
		{"the stricter rule wins", call{arch: x86, nr: w, args: [6]uint64{7}}, retErrno | 13},
		{"same argument twice: either", call{arch: x86, nr: r, args: [6]uint64{2}}, allow},
		{"same argument twice: neither", call{arch: x86, nr: r, args: [6]uint64{3}}, retErrno | 38},
		{"two arguments: both", call{arch: x86, nr: c, args: [6]uint64{1, 2}}, allow},
		{"two arguments: one", call{arch: x86, nr: c, args: [6]uint64{1, 3}}, retErrno | 38},
		{"kill", call{arch: x86, nr: nr(t, arch.X86_64, "getpid")}, retKillThread},
		{"default errno", call{arch: x86, nr: nr(t, arch.X86_64, "openat")}, retErrno | 38},
	} {
		if got := run(t, prec, tc.c); got != tc.want {
			t.Errorf("%s: %#x, want %#x", tc.name, got, tc.want)
		}
	}
}

// TestConditions checks every comparison on 64-bit and 32-bit ABIs
// against its meaning, with values around the word boundary.
func TestConditions(t *testing.T) {
	vals := []uint64{0, 1, 2, 0xfffffffe, 0xffffffff, 1 << 32, 1<<32 | 1, 2 << 32, 0xffffffffffffffff, 0x7fffffff00000000}
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 20; i++ {
		vals = append(vals, rng.Uint64(), uint64(rng.Uint32()))
	}
	ops := map[specs.LinuxSeccompOperator]func(a, v, v2 uint64) bool{
		specs.OpEqualTo:      func(a, v, _ uint64) bool { return a == v },
		specs.OpNotEqual:     func(a, v, _ uint64) bool { return a != v },
		specs.OpGreaterThan:  func(a, v, _ uint64) bool { return a > v },
		specs.OpGreaterEqual: func(a, v, _ uint64) bool { return a >= v },
		specs.OpLessThan:     func(a, v, _ uint64) bool { return a < v },
		specs.OpLessEqual:    func(a, v, _ uint64) bool { return a <= v },
		specs.OpMaskedEqual:  func(a, v, v2 uint64) bool { return a&v == v2 },
	}
	for op, want := range ops {
		for _, v := range vals[:12] {
			v2 := v & 0x00ff00ff00ff00ff
			f := &Filter{DefaultAction: specs.ActErrno, Architectures: []specs.Arch{specs.ArchX86},
				Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 3, Value: v, ValueTwo: v2, Op: op}}}}}
			p, err := Compile(f, "amd64")
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range vals {
				var args [6]uint64
				args[3] = a
				got := run(t, p, call{arch: uint32(arch.X86_64.ID), nr: 0, args: args}) == allow
				if got != want(a, v, v2) {
					t.Errorf("x86_64: %#x %s %#x (%#x): %v", a, op, v, v2, got)
				}
				// i386 sees 32-bit arguments: only the low words count.
				got = run(t, p, call{arch: uint32(arch.I386.ID), nr: 3, args: [6]uint64{0, 0, 0, uint64(uint32(a))}}) == allow
				if got != want(uint64(uint32(a)), uint64(uint32(v)), uint64(uint32(v2))) {
					t.Errorf("i386: %#x %s %#x: %v", uint32(a), op, uint32(v), got)
				}
			}
		}
	}
}

// TestBadProfiles: what is wrong with a profile is said in one line.
func TestBadProfiles(t *testing.T) {
	for _, tc := range []struct{ profile, err string }{
		{`{"defaultAction": "SCMP_ACT_ALLOW",`, "line 1"},
		{`[]`, "not a seccomp profile"},
		{`{}`, "no defaultAction"},
		{`{"defaultAction":"SCMP_ACT_NOPE"}`, `unknown action "SCMP_ACT_NOPE"`},
		{`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_NOTIFY"}]}`, "seccomp agent"},
		{`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ERRNO","args":[{"index":6,"op":"SCMP_CMP_EQ"}]}]}`, "argument index 6"},
		{`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"op":"SCMP_CMP_ABOUT"}]}]}`, "unknown operator"},
		{`{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_Z80"]}`, "unknown architecture"},
		{`{"defaultAction":"SCMP_ACT_ALLOW","flags":["SECCOMP_FILTER_FLAG_TSYNC"]}`, "not supported"},
		{`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"action":"SCMP_ACT_ERRNO"}]}`, "no names"},
	} {
		f, err := Load([]byte(tc.profile), dockerCaps)
		if err == nil {
			_, err = Compile(f, "amd64")
		}
		if err == nil || !strings.Contains(err.Error(), tc.err) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: %v, want one line with %q", tc.profile, err, tc.err)
		}
	}
}

// BenchmarkCompileDefault is what each RUN pays before its command starts.
func BenchmarkCompileDefault(b *testing.B) {
	for i := 0; i < b.N; i++ {
		f, err := Load(nil, dockerCaps)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Compile(f, "amd64"); err != nil {
			b.Fatal(err)
		}
	}
}

// TestRulesSize: the layout's size estimate is what emitRules emits, for
// every rule set of the default profile and each ABI kind.
func TestRulesSize(t *testing.T) {
	f, err := Load(nil, dockerCaps)
	if err != nil {
		t.Fatal(err)
	}
	def, _ := action(f.DefaultAction, f.DefaultErrnoRet)
	byName, _, err := rules(f, def)
	if err != nil {
		t.Fatal(err)
	}
	byName["extra"] = []rule{newRule(retAllow, []cond{{op: specs.OpMaskedEqual, val: 1}, {arg: 1, op: specs.OpGreaterThan}, {arg: 2, op: specs.OpLessEqual}, {arg: 3, op: specs.OpNotEqual}})}
	for name, rs := range ruleSets(byName) {
		for _, s := range []abi{abiX86_64, abiX86} {
			a := &asm{}
			emitRules(a, s, rs.rules, def)
			if got := rulesSize(s, rs.rules); got != len(a.ins) {
				t.Errorf("%s on %s: rulesSize %d, emitted %d", name, s.name, got, len(a.ins))
			}
		}
	}
}
