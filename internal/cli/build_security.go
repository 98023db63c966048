package cli

import (
	"fmt"
	"os"
	"strings"

	"github.com/berth-dev/berth/internal/sandbox"
)

// securityOpts reads build --security-opt KEY=VALUE (or Docker's older
// KEY:VALUE) into the RUN sandbox's settings, as Docker's legacy builder
// applies them to its build containers. Only seccomp is taken today:
//
//	seccomp=unconfined    no filter
//	seccomp=builtin       Docker's default profile (also without the flag)
//	seccomp=PROFILE.json  a profile in Docker's format, checked now
//
// Any other key is refused, so a setting berth would not apply never
// looks applied.
func securityOpts(opts []string) (sandbox.Seccomp, error) {
	var sc sandbox.Seccomp
	for _, opt := range opts {
		key, val, ok := strings.Cut(opt, "=")
		if !ok {
			key, val, ok = strings.Cut(opt, ":")
		}
		if !ok || val == "" {
			return sc, usageError{fmt.Errorf("invalid --security-opt %q: want KEY=VALUE, such as seccomp=unconfined", opt)}
		}
		switch key {
		case "seccomp":
			sc = sandbox.Seccomp{}
			switch val {
			case "unconfined":
				sc.Unconfined = true
			case "builtin":
			default:
				data, err := os.ReadFile(val)
				if err != nil {
					return sc, usageError{fmt.Errorf("--security-opt seccomp: %w", err)}
				}
				sc.Profile = data
				if err := sandbox.CheckSeccomp(sc); err != nil {
					return sc, usageError{fmt.Errorf("--security-opt seccomp=%s: %w", val, err)}
				}
			}
		default:
			return sc, usageError{fmt.Errorf("invalid --security-opt %q: berth build supports seccomp=unconfined|builtin|PROFILE.json", opt)}
		}
	}
	return sc, nil
}
