package seccomp

import (
	"fmt"

	"golang.org/x/net/bpf"
)

// asm is a small assembler over x/net/bpf: instructions with forward
// jumps to labels, resolved at the end. Conditional jumps reach at most
// 255 instructions (their offsets are 8 bits); the compiler lays the
// program out so they stay short and uses jump (32-bit) for the rest.
type asm struct {
	ins    []bpf.Instruction
	jumps  []pending
	labels []int // label -> instruction index, -1 until placed
}

type label int

// fallthrough is the label of the next instruction.
const next label = -1

type pending struct {
	at     int
	t, f   label
	always bool // an unconditional jump to t
}

func (a *asm) newLabel() label {
	a.labels = append(a.labels, -1)
	return label(len(a.labels) - 1)
}

func (a *asm) place(l label) { a.labels[l] = len(a.ins) }

func (a *asm) emit(i bpf.Instruction) { a.ins = append(a.ins, i) }

func (a *asm) ret(v uint32) { a.emit(bpf.RetConstant{Val: v}) }

// load puts the 32-bit word at off of struct seccomp_data in A.
func (a *asm) load(off uint32) { a.emit(bpf.LoadAbsolute{Off: off, Size: 4}) }

// jumpIf compares A with val and goes to t when cond holds, else to f.
func (a *asm) jumpIf(cond bpf.JumpTest, val uint32, t, f label) {
	a.jumps = append(a.jumps, pending{at: len(a.ins), t: t, f: f})
	a.emit(bpf.JumpIf{Cond: cond, Val: val})
}

// jump goes to l whatever A holds.
func (a *asm) jump(l label) {
	a.jumps = append(a.jumps, pending{at: len(a.ins), t: l, always: true})
	a.emit(bpf.Jump{})
}

func (a *asm) offset(from int, l label) (int, error) {
	if l == next {
		return 0, nil
	}
	to := a.labels[l]
	if to < 0 {
		return 0, fmt.Errorf("internal error: label %d never placed", l)
	}
	d := to - from - 1
	if d < 0 {
		return 0, fmt.Errorf("internal error: backward jump at %d", from)
	}
	return d, nil
}

func (a *asm) assemble() ([]bpf.RawInstruction, error) {
	for _, p := range a.jumps {
		t, err := a.offset(p.at, p.t)
		if err != nil {
			return nil, err
		}
		if p.always {
			a.ins[p.at] = bpf.Jump{Skip: uint32(t)}
			continue
		}
		f, err := a.offset(p.at, p.f)
		if err != nil {
			return nil, err
		}
		if t > 255 || f > 255 {
			return nil, fmt.Errorf("internal error: conditional jump of %d/%d instructions at %d", t, f, p.at)
		}
		j := a.ins[p.at].(bpf.JumpIf)
		j.SkipTrue, j.SkipFalse = uint8(t), uint8(f)
		a.ins[p.at] = j
	}
	if len(a.ins) > bpfMaxInstructions {
		return nil, fmt.Errorf("the filter needs %d instructions, more than the kernel's %d", len(a.ins), bpfMaxInstructions)
	}
	return bpf.Assemble(a.ins)
}

// bpfMaxInstructions is BPF_MAXINSNS, the longest program the kernel takes.
const bpfMaxInstructions = 4096
