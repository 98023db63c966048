// Package sandbox runs one Dockerfile RUN step without a daemon and turns what
// it changed into a layer.
//
// It owns processes and namespaces: berth re-executes itself (Main, the one
// entry point, called first in cmd/berth), the re-executed supervisor unshares
// a user namespace (when not root) and a mount namespace, mounts an overlayfs
// of the step's lower layers, and starts a second re-exec that becomes PID 1
// of new PID, UTS, IPC (and, for --network none, network) namespaces,
// pivot_roots into the overlay and runs the command with Docker's default
// capability set. When the command succeeded, the supervisor — still inside
// the user namespace, so ownership reads as the image sees it — converts the
// overlay upper directory into an OCI layer tar (package layerdiff).
//
// Lower layers come from package snapshot (unpacked once per layer digest).
//
// This package must not import berth's store, build, cli or remote packages:
// it is a leaf that only the builder and the CLI use. It implements the
// process/rootfs part of the OCI runtime spec's Linux container semantics as
// Docker applies them to RUN (devices, masked /proc paths, capabilities).
package sandbox
