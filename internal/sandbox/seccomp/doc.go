// Package seccomp turns a seccomp profile in Docker's JSON format into a
// classic BPF program and installs it, in pure Go (berth is built with
// CGO_ENABLED=0, so libseccomp is not an option).
//
// The profile is data: Docker's default is moby's own
// (github.com/moby/profiles/seccomp, the source Docker Engine builds its
// default.json from), and a --security-opt seccomp=PROFILE.json is read
// with the same types and the same rules (archMap, includes/excludes by
// capability, architecture and kernel version), so a profile written for
// docker run works unchanged. Compile then follows runc's reading of the
// resulting runtime-spec LinuxSeccomp:
//
//   - the audit architecture is checked first; a foreign one is killed
//     (SECCOMP_RET_KILL_PROCESS), as libseccomp does for unlisted arches;
//     on amd64 the profile's x86 (i386) and x32 sub-architectures each get
//     their own section, on arm64 the 32-bit arm one;
//   - conditions on different arguments of one rule all have to hold;
//     several conditions on the same argument are separate rules (runc's
//     behaviour, which Docker's profiles are written for);
//   - when rules with different actions match, the most restrictive wins
//     (the kernel's own precedence between stacked filters);
//   - a syscall newer than every syscall the profile names gets ENOSYS, not
//     the default action, so programs fall back (runc's stub: clone3 ->
//     clone);
//   - names the tables do not know are skipped, as runc skips them.
//
// Syscall numbers come from github.com/elastic/go-seccomp-bpf/arch, whose
// tables cover every architecture a berth binary filters (x86_64, i386, x32,
// aarch64, arm); x/sys/unix has only the running architecture's, as
// constants. The program is assembled with golang.org/x/net/bpf.
//
// It imports no berth package.
package seccomp
