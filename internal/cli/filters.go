package cli

import (
	"fmt"
	"time"

	"github.com/berth-dev/berth/internal/store"
)

// parseFilterFlags turns --filter KEY=VALUE flags into the store's filters,
// checking each against the keys the command accepts in the order given, as
// Docker reports the first bad one.
func parseFilterFlags(args []string, allowed []string) (store.Filters, error) {
	var fs store.Filters
	now := time.Now()
	for _, arg := range args {
		f, ok := store.ParseFilter(arg)
		if !ok {
			return nil, usageError{fmt.Errorf("bad format of filter (expected name=value)")}
		}
		if err := (store.Filters{f}).Check(allowed, now); err != nil {
			return nil, err
		}
		fs = append(fs, f)
	}
	return fs, nil
}
