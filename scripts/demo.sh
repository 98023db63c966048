#!/usr/bin/env bash
# Builds berth and runs its main job on this machine, against a throw-away
# store: make a base image from Debian's busybox-static, then list, tag,
# inspect, build, save/load, and push/pull through berth's own registry on
# loopback. Each step prints the command it runs.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! [ -x /bin/busybox ]; then
	echo "installing busybox-static"
	SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
	$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq busybox-static >/dev/null
fi

mkdir -p bin
go build -o bin/berth ./cmd/berth
BERTH="$PWD/bin/berth"
work=$(mktemp -d)
export BERTH_ROOT="$work/store"
cleanup() {
	[ -n "${regpid:-}" ] && kill "$regpid" 2>/dev/null && wait "$regpid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }

# A root filesystem holding busybox and its applet links.
mkdir -p "$work/rootfs/bin" "$work/rootfs/etc" "$work/rootfs/tmp"
cp /bin/busybox "$work/rootfs/bin/"
for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -sf busybox "$work/rootfs/bin/$a"; done
echo 'root:x:0:0:root:/root:/bin/sh' >"$work/rootfs/etc/passwd"
echo 'root:x:0:' >"$work/rootfs/etc/group"

step bash -c "tar -C '$work/rootfs' -c . | '$BERTH' import --change 'CMD [\"sh\"]' --change 'ENV PATH=/bin' - busybox:latest"
step "$BERTH" images
step "$BERTH" tag busybox:latest demo/busybox:1
step "$BERTH" images --format "table {{.Repository}}\t{{.Tag}}\t{{.Size}}"
step "$BERTH" inspect -f '{{.Id}} {{.Os}}/{{.Architecture}} {{.Config.Cmd}}' busybox
step "$BERTH" history busybox
step "$BERTH" system df
step "$BERTH" rmi demo/busybox:1
step "$BERTH" system check
echo
echo "demo finished: berth works on this machine"
