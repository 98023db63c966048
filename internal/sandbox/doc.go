// Package sandbox runs one Dockerfile RUN step without a daemon and turns what
// it changed into a layer.
//
// It owns processes and namespaces. One step is three processes:
//
//	berth (Run)                      the caller; kills the step's process group on ctx cancel
//	└─ berth-sandbox <state>         supervisor: new mount ns (+ user ns when rootless);
//	   │                             overlayfs of the lowers, /dev, /sys, /etc/hosts,
//	   │                             /etc/resolv.conf, RUN --mount; later the layer diff
//	   └─ berth-sandbox-init <state> PID 1 of new PID, UTS, IPC, mount (and, for
//	      │                          --network none, network) namespaces: /proc,
//	      │                          pivot_root, USER, WORKDIR, Docker's capability set
//	      └─ the command             when PID 1 exits the kernel kills the rest
//
// Both children are re-executions of /proc/self/exe dispatched by Main, the
// one entry point, which cmd/berth calls before anything else. Every mount
// lives in the children's private namespaces, so they vanish with them; the
// state dir (upper, work) is emptied by the supervisor and removed by Run,
// or by Sweep after a berth that was killed outright.
//
// Rootless, the caller becomes root of a user namespace: with /etc/subuid and
// /etc/subgid ranges through newuidmap/newgidmap (uidmap), else with a single
// mapping. The layer is computed inside that namespace, so ownership reads as
// the image sees it; NewSnapshots extracts layers the same way.
//
// Where overlayfs cannot be mounted, the lowers are copied into one tree and
// the change set is found by comparison (layerdiff.Scan/Compare); the layer
// is the same. Mount points the sandbox had to create are removed before the
// diff, so RUN --mount targets, /proc, /dev and /etc/hosts leave no trace.
//
// Sub-packages: snapshot (layers unpacked once per DiffID, shared by every
// build) and layerdiff (upper dir or comparison -> OCI layer tar).
//
// This package must not import berth's store, build, cli or remote packages:
// it is a leaf that the builder and the CLI use. It applies the Linux parts of
// the OCI runtime spec as Docker configures them for RUN (default devices,
// masked and read-only /proc paths, default capabilities) and produces layers
// per the OCI image spec's layer.md (whiteouts, opaque directories).
package sandbox
