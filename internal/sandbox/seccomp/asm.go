package seccomp

import (
	"fmt"

	"golang.org/x/net/bpf"
)

// asm is a small assembler over x/net/bpf: instructions with forward
// jumps to labels, resolved at the end. Each instruction is encoded by
// x/net/bpf as it is emitted (into RawInstruction, no interface values:
// a step compiles about a thousand). Conditional jumps reach at most 255
// instructions (their offsets are 8 bits); the compiler lays the program
// out so they stay short and uses jump (32-bit) for the rest.
type asm struct {
	ins    []bpf.RawInstruction
	jumps  []pending
	labels []int // label -> instruction index, -1 until placed
}

type label int

// next is the label of the next instruction.
const next label = -1

type pending struct {
	at     int
	j      bpf.JumpIf
	t, f   label
	always bool // an unconditional jump to t
}

func (a *asm) newLabel() label {
	a.labels = append(a.labels, -1)
	return label(len(a.labels) - 1)
}

func (a *asm) place(l label) { a.labels[l] = len(a.ins) }

// raw appends an encoded instruction; the encoders of the few kinds the
// compiler uses cannot fail.
func (a *asm) raw(r bpf.RawInstruction, _ error) { a.ins = append(a.ins, r) }

func (a *asm) ret(v uint32) { a.raw(bpf.RetConstant{Val: v}.Assemble()) }

// load puts the 32-bit word at off of struct seccomp_data in A.
func (a *asm) load(off uint32) { a.raw(bpf.LoadAbsolute{Off: off, Size: 4}.Assemble()) }

// and masks A with v.
func (a *asm) and(v uint32) { a.raw(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: v}.Assemble()) }

// jumpIf compares A with val and goes to t when cond holds, else to f.
func (a *asm) jumpIf(cond bpf.JumpTest, val uint32, t, f label) {
	a.jumps = append(a.jumps, pending{at: len(a.ins), j: bpf.JumpIf{Cond: cond, Val: val}, t: t, f: f})
	a.ins = append(a.ins, bpf.RawInstruction{})
}

// jump goes to l whatever A holds.
func (a *asm) jump(l label) {
	a.jumps = append(a.jumps, pending{at: len(a.ins), t: l, always: true})
	a.ins = append(a.ins, bpf.RawInstruction{})
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
			a.ins[p.at], err = bpf.Jump{Skip: uint32(t)}.Assemble()
			if err != nil {
				return nil, err
			}
			continue
		}
		f, err := a.offset(p.at, p.f)
		if err != nil {
			return nil, err
		}
		if t > 255 || f > 255 {
			return nil, fmt.Errorf("internal error: conditional jump of %d/%d instructions at %d", t, f, p.at)
		}
		p.j.SkipTrue, p.j.SkipFalse = uint8(t), uint8(f)
		if a.ins[p.at], err = p.j.Assemble(); err != nil {
			return nil, err
		}
	}
	if len(a.ins) > bpfMaxInstructions {
		return nil, fmt.Errorf("the filter needs %d instructions, more than the kernel's %d", len(a.ins), bpfMaxInstructions)
	}
	return a.ins, nil
}

// bpfMaxInstructions is BPF_MAXINSNS, the longest program the kernel takes.
const bpfMaxInstructions = 4096
