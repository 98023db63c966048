package fsutil

import (
	"context"
	"errors"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// Lock takes an exclusive advisory lock on path (created if missing) and
// returns the function that releases it. The kernel drops the lock when the
// process dies, so a kill -9 never leaves a stale lock behind.
func Lock(path string) (unlock func(), err error) {
	return lockMode(context.Background(), path, unix.LOCK_EX)
}

// LockShared takes a shared lock on path.
func LockShared(path string) (unlock func(), err error) {
	return lockMode(context.Background(), path, unix.LOCK_SH)
}

// LockContext is Lock that gives up when ctx is done.
func LockContext(ctx context.Context, path string) (unlock func(), err error) {
	return lockMode(ctx, path, unix.LOCK_EX)
}

// TryLock takes an exclusive lock without waiting; ok is false when another
// holder has it.
func TryLock(path string) (unlock func(), ok bool, err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, false, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, false, nil
		}
		return nil, false, err
	}
	return func() { unix.Flock(int(f.Fd()), unix.LOCK_UN); f.Close() }, true, nil
}

func lockMode(ctx context.Context, path string, mode int) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	// Poll with LOCK_NB so that a cancelled context is honoured; flock has no
	// timeout of its own.
	delay := time.Millisecond
	for {
		err := unix.Flock(int(f.Fd()), mode|unix.LOCK_NB)
		if err == nil {
			return func() { unix.Flock(int(f.Fd()), unix.LOCK_UN); f.Close() }, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) && !errors.Is(err, unix.EINTR) {
			f.Close()
			return nil, err
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(delay):
		}
		if delay < 50*time.Millisecond {
			delay *= 2
		}
	}
}
