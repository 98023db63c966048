package seccomp

import (
	"fmt"

	"github.com/elastic/go-seccomp-bpf/arch"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// x32Bit marks an x32 system call on x86_64 (__X32_SYSCALL_BIT).
const x32Bit = 0x40000000

// abi is one system call ABI a filter section handles.
type abi struct {
	name   specs.Arch
	audit  uint32         // AUDIT_ARCH_* the kernel reports in seccomp_data.arch
	table  map[int]string // number -> name
	bit    uint32         // OR-ed into every number (x32)
	bits32 bool           // arguments are 32 bits wide: compare the low word only
}

var (
	abiX86_64  = abi{name: specs.ArchX86_64, audit: uint32(arch.X86_64.ID), table: arch.X86_64.SyscallNumbers}
	abiX32     = abi{name: specs.ArchX32, audit: uint32(arch.X86_64.ID), table: arch.X32.SyscallNumbers, bit: x32Bit}
	abiX86     = abi{name: specs.ArchX86, audit: uint32(arch.I386.ID), table: arch.I386.SyscallNumbers, bits32: true}
	abiAARCH64 = abi{name: specs.ArchAARCH64, audit: uint32(arch.AARCH64.ID), table: arch.AARCH64.SyscallNumbers}
	abiARM     = abi{name: specs.ArchARM, audit: uint32(arch.ARM.ID), table: arch.ARM.SyscallNumbers, bits32: true}
)

// machines maps a GOARCH to its native ABI and the other ABIs the same
// kernel can run, which a profile may list as sub-architectures.
var machines = map[string]struct {
	native abi
	others []abi
}{
	"amd64": {abiX86_64, []abi{abiX86, abiX32}},
	"arm64": {abiAARCH64, []abi{abiARM}},
}

// knownArches are the runtime-spec architecture names a profile may list.
var knownArches = map[specs.Arch]bool{
	specs.ArchX86: true, specs.ArchX86_64: true, specs.ArchX32: true, specs.ArchARM: true, specs.ArchAARCH64: true,
	specs.ArchMIPS: true, specs.ArchMIPS64: true, specs.ArchMIPS64N32: true, specs.ArchMIPSEL: true, specs.ArchMIPSEL64: true,
	specs.ArchMIPSEL64N32: true, specs.ArchPPC: true, specs.ArchPPC64: true, specs.ArchPPC64LE: true, specs.ArchS390: true,
	specs.ArchS390X: true, specs.ArchPARISC: true, specs.ArchPARISC64: true, specs.ArchRISCV64: true, specs.ArchLOONGARCH64: true,
}

// abis returns the ABIs a filter for goarch covers: the native one always
// (as libseccomp, which starts every filter with it), and each listed one
// this kernel can run. Other listed architectures cannot occur here.
func abis(goarch string, listed []specs.Arch) ([]abi, error) {
	m, ok := machines[goarch]
	if !ok {
		return nil, fmt.Errorf("seccomp filters are not supported on %s", goarch)
	}
	out := []abi{m.native}
	for _, a := range listed {
		if !knownArches[a] {
			return nil, fmt.Errorf("unknown architecture %q", a)
		}
		for _, o := range m.others {
			if o.name == a && !hasABI(out, a) {
				out = append(out, o)
			}
		}
	}
	return out, nil
}

func hasABI(list []abi, name specs.Arch) bool {
	for _, a := range list {
		if a.name == name {
			return true
		}
	}
	return false
}
