package seccomp

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Program is an assembled filter, ready for Install.
type Program struct {
	Instructions []bpf.RawInstruction
	Flags        uint // SECCOMP_FILTER_FLAG_* the profile asks for
}

// Return values of a filter (SECCOMP_RET_*).
const (
	retKillProcess = 0x80000000
	retKillThread  = 0x00000000
	retTrap        = 0x00030000
	retErrno       = 0x00050000
	retTrace       = 0x7ff00000
	retLog         = 0x7ffc0000
	retAllow       = 0x7fff0000
)

// Offsets in struct seccomp_data.
const (
	offNr   = 0
	offArch = 4
	offArgs = 16
)

// precedence orders return values as the kernel does between filters:
// the lower, the more restrictive (it wins when several rules match).
func precedence(ret uint32) int {
	switch ret &^ 0xffff {
	case retKillProcess:
		return 0
	case retKillThread:
		return 1
	case retTrap:
		return 2
	case retErrno:
		return 3
	case retTrace:
		return 5
	case retLog:
		return 6
	}
	return 7 // allow
}

// action returns the filter return value of a profile action.
func action(a specs.LinuxSeccompAction, errno *uint) (uint32, error) {
	e := uint32(unix.EPERM)
	if errno != nil {
		if *errno > 0xffff {
			return 0, fmt.Errorf("errnoRet %d is out of range", *errno)
		}
		e = uint32(*errno)
	}
	switch a {
	case specs.ActKill, specs.ActKillThread:
		return retKillThread, nil
	case specs.ActKillProcess:
		return retKillProcess, nil
	case specs.ActTrap:
		return retTrap, nil
	case specs.ActErrno:
		return retErrno | e, nil
	case specs.ActTrace:
		return retTrace | e, nil
	case specs.ActLog:
		return retLog, nil
	case specs.ActAllow:
		return retAllow, nil
	case specs.ActNotify:
		return 0, fmt.Errorf("action %s needs a seccomp agent, which berth does not run", a)
	case "":
		return 0, fmt.Errorf("missing action")
	}
	return 0, fmt.Errorf("unknown action %q", a)
}

// cond is one argument comparison.
type cond struct {
	arg       uint
	op        specs.LinuxSeccompOperator
	val, val2 uint64
}

// rule is one way a syscall can match: every cond holds. key is equal
// for equal rules.
type rule struct {
	ret   uint32
	conds []cond
	key   string
}

func newRule(ret uint32, conds []cond) rule {
	b := strconv.AppendUint(nil, uint64(ret), 16)
	for _, c := range conds {
		b = append(b, ' ')
		b = strconv.AppendUint(b, uint64(c.arg), 10)
		b = append(b, c.op...)
		b = strconv.AppendUint(b, c.val, 16)
		b = append(b, '/')
		b = strconv.AppendUint(b, c.val2, 16)
	}
	return rule{ret: ret, conds: conds, key: string(b)}
}

// rules reads a filter's syscall rules by name, in profile order, each
// rule with several conditions on one argument split into one rule per
// condition (runc's reading, which Docker's profiles are written for).
func rules(f *Filter, def uint32) (map[string][]rule, map[string]bool, error) {
	out := make(map[string][]rule, 512)
	names := make(map[string]bool, 512)
	for i, sc := range f.Syscalls {
		ret, err := action(sc.Action, sc.ErrnoRet)
		if err != nil {
			return nil, nil, fmt.Errorf("syscalls[%d] (%s): %w", i, strings.Join(sc.Names, ","), err)
		}
		if len(sc.Names) == 0 {
			return nil, nil, fmt.Errorf("syscalls[%d]: no names", i)
		}
		for _, n := range sc.Names {
			names[n] = true
		}
		if ret == def {
			continue // the default does it already
		}
		var conds []cond
		perArg := map[uint]int{}
		for _, a := range sc.Args {
			if a.Index > 5 {
				return nil, nil, fmt.Errorf("syscalls[%d] (%s): argument index %d (system calls have six, 0 to 5)", i, strings.Join(sc.Names, ","), a.Index)
			}
			switch a.Op {
			case specs.OpNotEqual, specs.OpLessThan, specs.OpLessEqual, specs.OpEqualTo, specs.OpGreaterEqual, specs.OpGreaterThan, specs.OpMaskedEqual:
			default:
				return nil, nil, fmt.Errorf("syscalls[%d] (%s): unknown operator %q", i, strings.Join(sc.Names, ","), a.Op)
			}
			conds = append(conds, cond{arg: a.Index, op: a.Op, val: a.Value, val2: a.ValueTwo})
			perArg[a.Index]++
		}
		split := false
		for _, n := range perArg {
			split = split || n > 1
		}
		var rs []rule
		if split {
			for _, c := range conds {
				rs = append(rs, newRule(ret, []cond{c}))
			}
		} else {
			rs = []rule{newRule(ret, conds)}
		}
		for _, n := range sc.Names {
			out[n] = append(out[n], rs...)
		}
	}
	return out, names, nil
}

// Compile assembles f for a machine of architecture goarch ("amd64",
// "arm64"). See the package documentation for the semantics.
func Compile(f *Filter, goarch string) (*Program, error) {
	def, err := action(f.DefaultAction, f.DefaultErrnoRet)
	if err != nil {
		return nil, fmt.Errorf("defaultAction: %w", err)
	}
	if f.ListenerPath != "" {
		return nil, fmt.Errorf("listenerPath: berth runs no seccomp agent")
	}
	var flags uint
	for _, fl := range f.Flags {
		switch fl {
		case specs.LinuxSeccompFlagLog:
			flags |= unix.SECCOMP_FILTER_FLAG_LOG
		case specs.LinuxSeccompFlagSpecAllow:
			flags |= unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW
		default:
			return nil, fmt.Errorf("flag %q is not supported", fl)
		}
	}
	byName, names, err := rules(f, def)
	if err != nil {
		return nil, err
	}
	sets := ruleSets(byName)
	sections, err := abis(goarch, f.Architectures)
	if err != nil {
		return nil, err
	}
	a := &asm{}
	starts := make([]label, len(sections))
	for i := range sections {
		starts[i] = a.newLabel()
	}
	// The architecture first: a number means nothing without it.
	a.load(offArch)
	seen := map[uint32]bool{}
	for i, s := range sections {
		if seen[s.audit] {
			continue // x32 shares x86_64's audit arch: its section is reached by number
		}
		seen[s.audit] = true
		a.jumpIf(bpf.JumpEqual, s.audit, next, skipOne(a))
		a.jump(starts[i])
	}
	a.ret(retKillProcess)
	x32 := -1
	for i, s := range sections {
		if s.name == specs.ArchX32 {
			x32 = i
		}
	}
	for i, s := range sections {
		a.place(starts[i])
		if s.bit == 0 {
			a.load(offNr)
		}
		if s.name == specs.ArchX86_64 {
			// x32 numbers carry a bit of their own; without an x32
			// section they are a foreign ABI.
			a.jumpIf(bpf.JumpGreaterOrEqual, x32Bit, next, skipOne(a))
			if x32 >= 0 {
				a.jump(starts[x32])
			} else {
				a.ret(retKillProcess)
			}
		}
		if err := section(a, s, sets, names, def); err != nil {
			return nil, err
		}
	}
	prog, err := a.assemble()
	if err != nil {
		return nil, err
	}
	return &Program{Instructions: prog, Flags: flags}, nil
}

// skipOne is a label for the instruction after the next one: a conditional
// jump over one (long) jump that follows it.
func skipOne(a *asm) label {
	l := a.newLabel()
	a.labels[l] = len(a.ins) + 2
	return l
}

// ruleSet is one syscall's rules, most restrictive first, and a key
// equal for equal sets.
type ruleSet struct {
	rules []rule
	key   string
}

// ruleSets orders each name's rules (see sortRules) once for all ABIs.
func ruleSets(byName map[string][]rule) map[string]*ruleSet {
	out := make(map[string]*ruleSet, len(byName))
	for name, rs := range byName {
		sorted := sortRules(rs)
		key := ""
		if len(sorted) == 1 {
			key = sorted[0].key
		} else {
			keys := make([]string, len(sorted))
			for i, r := range sorted {
				keys[i] = r.key
			}
			key = strings.Join(keys, ";")
		}
		out[name] = &ruleSet{rules: sorted, key: key}
	}
	return out
}

// section emits the filter of one ABI, with the syscall number in A:
// numbers above the highest the profile names get ENOSYS when the default
// is to refuse (the default otherwise); the rest are a chain of number
// ranges with their rules, ascending, each "A > hi: the next range; else
// its rules".
func section(a *asm, s abi, sets map[string]*ruleSet, names map[string]bool, def uint32) error {
	// One pass over the table: each number's rules, and the highest number
	// the profile names.
	var slot [maxTableNr + 1]*ruleSet
	maxNr, named := 0, false
	for nr, name := range s.table {
		if nr < 0 || nr > maxTableNr {
			continue
		}
		if rs, ok := sets[name]; ok {
			slot[nr] = rs
		} else {
			slot[nr] = noRules
		}
		if names[name] && (!named || nr > maxNr) {
			maxNr, named = nr, true
		}
	}
	if !named {
		a.ret(def)
		return nil
	}
	beyond := def
	if precedence(def) < precedence(retLog) {
		beyond = retErrno | uint32(unix.ENOSYS)
	}
	a.jumpIf(bpf.JumpGreaterThan, uint32(maxNr)|s.bit, next, skipOne(a))
	a.ret(beyond)
	return emitSegments(a, s, segments(s, slot[:maxNr+1]), def)
}

// emitSegments dispatches on A among segs (ascending, covering every
// number up to the last one's hi): a binary search down to a few, then a
// chain "A > hi: the next one; else its rules". About 100 ranges take
// 7 comparisons, which the kernel also runs for every syscall number when
// it builds its cache of always-allowed ones.
func emitSegments(a *asm, s abi, segs []segment, def uint32) error {
	if len(segs) > 4 {
		mid := len(segs) / 2
		upper := a.newLabel()
		a.jumpIf(bpf.JumpGreaterThan, segs[mid-1].hi, next, skipOne(a))
		a.jump(upper)
		if err := emitSegments(a, s, segs[:mid], def); err != nil {
			return err
		}
		a.place(upper)
		return emitSegments(a, s, segs[mid:], def)
	}
	for i, sg := range segs {
		if i == len(segs)-1 {
			emitRules(a, s, sg.rules, def)
			return nil
		}
		after := a.newLabel()
		if rulesSize(s, sg.rules) <= 255 {
			a.jumpIf(bpf.JumpGreaterThan, sg.hi, after, next)
		} else {
			// Too far for a conditional jump: hop over a long one.
			a.jumpIf(bpf.JumpGreaterThan, sg.hi, next, skipOne(a))
			a.jump(after)
		}
		emitRules(a, s, sg.rules, def)
		a.place(after)
	}
	return nil
}

// rulesSize is how many instructions emitRules emits for rs.
func rulesSize(s abi, rs []rule) int {
	n := 0
	for _, r := range rs {
		for _, c := range r.conds {
			n += condSize(s, c)
		}
		n++
		if len(r.conds) == 0 {
			return n
		}
	}
	return n + 1
}

// condSize is how many instructions emitCond emits for c.
func condSize(s abi, c cond) int {
	if s.bits32 {
		if c.op == specs.OpMaskedEqual {
			return 3
		}
		return 2
	}
	switch c.op {
	case specs.OpEqualTo, specs.OpNotEqual:
		return 4
	case specs.OpMaskedEqual:
		return 6
	}
	return 5
}

// segment is a run of syscall numbers up to hi (with the ABI's bit) that
// share their rules (nil: the default action).
type segment struct {
	hi    uint32
	rules []rule
	key   string
}

// maxTableNr bounds the syscall numbers of every table (x32's go to 547).
const maxTableNr = 1023

// noRules stands for a syscall the profile gives the default action.
var noRules = &ruleSet{}

// segments groups the numbers of slot (a syscall's rules by number, nil
// where no syscall has that number) into ranges of equal rules; numbers
// without a syscall join whichever range they sit in.
func segments(s abi, slot []*ruleSet) []segment {
	var out []segment
	for nr, rs := range slot {
		if rs == nil {
			continue
		}
		if len(out) > 0 && out[len(out)-1].key == rs.key {
			out[len(out)-1].hi = uint32(nr) | s.bit
			continue
		}
		if len(out) > 0 {
			out[len(out)-1].hi = uint32(nr-1) | s.bit // numbers without a syscall in between
		}
		out = append(out, segment{hi: uint32(nr) | s.bit, rules: rs.rules, key: rs.key})
	}
	if len(out) > 0 {
		out[len(out)-1].hi = uint32(len(slot)-1) | s.bit
	}
	return out
}

// sortRules orders a syscall's rules most restrictive first (stable, so
// profile order within one action), dropping exact repeats.
func sortRules(rs []rule) []rule {
	if len(rs) <= 1 {
		return rs
	}
	out := make([]rule, 0, len(rs))
	seen := map[string]bool{}
	for _, r := range rs {
		if k := r.key; !seen[k] {
			seen[k] = true
			out = append(out, r)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return precedence(out[i].ret) < precedence(out[j].ret) })
	return out
}

// emitRules emits a syscall's rules: each rule's conditions, failing to
// the next rule, then its return; the default when none matched. A rule
// without conditions ends the list (what follows could never match).
func emitRules(a *asm, s abi, rs []rule, def uint32) {
	for _, r := range rs {
		if len(r.conds) == 0 {
			a.ret(r.ret)
			return
		}
		fail := a.newLabel()
		for _, c := range r.conds {
			emitCond(a, s, c, fail)
		}
		a.ret(r.ret)
		a.place(fail)
	}
	a.ret(def)
}

// emitCond falls through when argument c.arg compares as c says, and
// goes to fail otherwise. Arguments are 64 bits (two little-endian
// words) except on 32-bit ABIs, whose arguments are the low word.
func emitCond(a *asm, s abi, c cond, fail label) {
	lo := offArgs + 8*uint32(c.arg)
	hi := lo + 4
	v, v2 := c.val, c.val2
	vlo, vhi := uint32(v), uint32(v>>32)
	if s.bits32 {
		// One word: compare the low words only.
		a.load(lo)
		switch c.op {
		case specs.OpEqualTo:
			a.jumpIf(bpf.JumpEqual, vlo, next, fail)
		case specs.OpNotEqual:
			a.jumpIf(bpf.JumpNotEqual, vlo, next, fail)
		case specs.OpGreaterThan:
			a.jumpIf(bpf.JumpGreaterThan, vlo, next, fail)
		case specs.OpGreaterEqual:
			a.jumpIf(bpf.JumpGreaterOrEqual, vlo, next, fail)
		case specs.OpLessThan:
			a.jumpIf(bpf.JumpLessThan, vlo, next, fail)
		case specs.OpLessEqual:
			a.jumpIf(bpf.JumpLessOrEqual, vlo, next, fail)
		case specs.OpMaskedEqual:
			a.and(vlo)
			a.jumpIf(bpf.JumpEqual, uint32(v2), next, fail)
		}
		return
	}
	pass := a.newLabel()
	switch c.op {
	case specs.OpEqualTo:
		a.load(hi)
		a.jumpIf(bpf.JumpEqual, vhi, next, fail)
		a.load(lo)
		a.jumpIf(bpf.JumpEqual, vlo, next, fail)
	case specs.OpNotEqual:
		a.load(hi)
		a.jumpIf(bpf.JumpEqual, vhi, next, pass)
		a.load(lo)
		a.jumpIf(bpf.JumpEqual, vlo, fail, next)
	case specs.OpMaskedEqual:
		a.load(hi)
		a.and(vhi)
		a.jumpIf(bpf.JumpEqual, uint32(v2>>32), next, fail)
		a.load(lo)
		a.and(vlo)
		a.jumpIf(bpf.JumpEqual, uint32(v2), next, fail)
	case specs.OpGreaterThan, specs.OpGreaterEqual:
		// hi > vhi: true; hi < vhi: false; equal: decided by the low word.
		a.load(hi)
		a.jumpIf(bpf.JumpGreaterThan, vhi, pass, next)
		a.jumpIf(bpf.JumpEqual, vhi, next, fail)
		a.load(lo)
		if c.op == specs.OpGreaterThan {
			a.jumpIf(bpf.JumpGreaterThan, vlo, next, fail)
		} else {
			a.jumpIf(bpf.JumpGreaterOrEqual, vlo, next, fail)
		}
	case specs.OpLessThan, specs.OpLessEqual:
		a.load(hi)
		a.jumpIf(bpf.JumpGreaterThan, vhi, fail, next)
		a.jumpIf(bpf.JumpEqual, vhi, next, pass)
		a.load(lo)
		if c.op == specs.OpLessThan {
			a.jumpIf(bpf.JumpLessThan, vlo, next, fail)
		} else {
			a.jumpIf(bpf.JumpLessOrEqual, vlo, next, fail)
		}
	}
	a.place(pass)
}
