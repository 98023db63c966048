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
CGO_ENABLED=0 go build -trimpath -o bin/berth ./cmd/berth # static, as shipped
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

# Build: a multi-stage Dockerfile whose RUN steps execute in berth's own
# sandbox (namespaces + pivot_root, no daemon).
mkdir -p "$work/app"
cat >"$work/app/Dockerfile" <<'DOCKERFILE'
FROM busybox:latest AS make
WORKDIR /src
COPY greeting.txt .
RUN mkdir -p /out && tr 'a-z' 'A-Z' < greeting.txt > /out/GREETING && echo built > /out/stamp
FROM busybox:latest
COPY --from=make /out /app
ENV GREETING_FILE=/app/GREETING
LABEL org.opencontainers.image.title=demo
CMD ["cat", "/app/GREETING"]
DOCKERFILE
echo "hello from berth" >"$work/app/greeting.txt"
step "$BERTH" build -t demo/app:1 "$work/app"
step "$BERTH" build -t demo/app:1 "$work/app"   # again: every step CACHED
step "$BERTH" history demo/app:1

# Archives: save, remove, load back.
step "$BERTH" save -o "$work/app.tar" demo/app:1
step "$BERTH" rmi demo/app:1
step "$BERTH" load -i "$work/app.tar"

# berth's own registry on loopback: push, then pull into a second store.
port=$((20000 + RANDOM % 20000))
"$BERTH" registry serve --addr "127.0.0.1:$port" --root "$work/registry" >"$work/registry.log" 2>&1 &
regpid=$!
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$port/v2/" >/dev/null 2>&1 && break; sleep 0.1; done
step "$BERTH" tag demo/app:1 "127.0.0.1:$port/demo/app:1"
step "$BERTH" push "127.0.0.1:$port/demo/app:1"
step env BERTH_ROOT="$work/store2" "$BERTH" pull "127.0.0.1:$port/demo/app:1"
step env BERTH_ROOT="$work/store2" "$BERTH" images
step env CI=true "$BERTH" dive demo/app:1
step "$BERTH" system check
echo
echo "demo finished: berth works on this machine"
