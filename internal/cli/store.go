package cli

// storeHandle is filled in by the store wiring.
type storeHandle struct{}

func (a *app) close() {}
