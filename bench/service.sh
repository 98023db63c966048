#!/usr/bin/env bash
# bench/service.sh: what the Engine API costs over the direct command, in the
# same run on the same store: `docker pull` through `berth system service`
# vs `berth pull`, and `docker build` (classic API) through it vs
# `berth build`; plus `docker images` through it on 1,000 images vs
# `berth images`. Medians of RUNS, the two orders alternating.
#
#   bench/service.sh                 # RUNS=5, a 256 MiB image in 4 gzip layers
#   RUNS=3 MB=64 bench/service.sh    # a quick look
#   BENCH_DIR=/dev/shm bench/service.sh   # store on tmpfs: without the disk's allocator
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
MB=${MB:-256}
LAYERS=${LAYERS:-4}
W=$(mktemp -d "${BENCH_DIR:-/var/tmp}/berth-bench-service.XXXXXX")
SVC_PID="" REG_PID=""
cleanup() {
	for p in $SVC_PID $REG_PID; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null || true; done
	rm -rf "$W"
}
trap cleanup EXIT
DOCKER=/usr/local/bin/docker; [ -x "$DOCKER" ] || DOCKER=$(command -v docker)
go build -o "$W/berth" ./cmd/berth
B="$W/berth"
export BERTH_ROOT=$W/root DOCKER_CONFIG=$W/docker-config
mkdir -p "$DOCKER_CONFIG"

# The service and a registry (berth's own) on loopback.
"$B" system service --log-level error "unix://$W/docker.sock" >/dev/null &
SVC_PID=$!
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$B" registry serve --addr "127.0.0.1:$PORT" --root "$W/registry" >/dev/null 2>&1 &
REG_PID=$!
for _ in $(seq 100); do [ -S "$W/docker.sock" ] && curl -sf "http://127.0.0.1:$PORT/v2/" >/dev/null && break; sleep 0.1; done
export DOCKER_HOST=unix://$W/docker.sock

now() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
measure() { local s e; s=$(now); "$@" >/dev/null 2>&1; e=$(now); echo $(( (e - s) / 1000000 )); }
# CPU milliseconds (user+sys) of a command and, for docker, of the service
# while it served it: what the load of other jobs does not inflate.
ticks() { awk '{print $14 + $15 + $16 + $17}' "/proc/$SVC_PID/stat"; } # with waited-for children (RUN)
TCK=$(getconf CLK_TCK)
cpu() { # tool cmd... → CPU ms
	local t0 t1 c
	t0=$(ticks)
	/usr/bin/time -o "$W/time" -f '%U %S' "$@" >/dev/null 2>&1
	c=$(awk '{printf "%d", ($1 + $2) * 1000}' "$W/time")
	t1=$(ticks)
	echo $(( c + (t1 - t0) * 1000 / TCK ))
}

# A base image, and a pull image of $LAYERS gzip layers of mixed data
# (text that compresses, random bytes that do not), pushed to the registry.
mkdir -p "$W/rootfs/bin" "$W/rootfs/etc" "$W/rootfs/tmp"
cp "$(command -v busybox)" "$W/rootfs/bin/"
for l in sh mkdir seq dd touch cat echo; do ln -s busybox "$W/rootfs/bin/$l"; done
tar -C "$W/rootfs" -cf "$W/rootfs.tar" .
"$B" import "$W/rootfs.tar" bench-base:latest >/dev/null
per=$((MB / LAYERS))
printf 'FROM bench-base:latest\n' > "$W/Dockerfile.img"
for i in $(seq 1 "$LAYERS"); do
	printf 'RUN mkdir -p /d%d && cd /d%d && dd if=/dev/urandom of=r bs=1M count=%d 2>/dev/null && for j in $(seq 1 2000); do echo "line $j of layer %d" >> t; done\n' \
		"$i" "$i" $((per / 2)) "$i" >> "$W/Dockerfile.img"
done
mkdir -p "$W/imgctx"
"$B" build -q -f "$W/Dockerfile.img" -t "127.0.0.1:$PORT/bench/pull:1" "$W/imgctx" >/dev/null
"$B" push -q "127.0.0.1:$PORT/bench/pull:1" >/dev/null
REF=127.0.0.1:$PORT/bench/pull:1
clean_pull() { "$B" rmi -f "$REF" >/dev/null 2>&1 || true; "$B" image prune -a -f >/dev/null 2>&1 || true; "$B" import "$W/rootfs.tar" bench-base:latest >/dev/null; }

# The build: the reference multi-stage Dockerfile of bench/build.sh.
mkdir -p "$W/ctx/src"
for i in $(seq 1 20); do echo "package main // $i" > "$W/ctx/src/f$i.go"; done
cat > "$W/ctx/Dockerfile" <<'DF'
FROM bench-base:latest AS gen
RUN mkdir -p /data/files && cd /data/files && for i in $(seq 1 2000); do echo "file $i" > f$i; done && dd if=/dev/zero of=/data/big bs=1M count=50 2>/dev/null
COPY src/ /src/
RUN cat /src/*.go > /data/all.go

FROM bench-base:latest
COPY --from=gen /data /data
ENV APP_ENV=production
WORKDIR /app
LABEL org.example.bench=build
CMD ["cat", "/data/all.go"]
DF

: > "$W/pull.berth"; : > "$W/pull.docker"; : > "$W/build.berth"; : > "$W/build.docker"
: > "$W/pullcpu.berth"; : > "$W/pullcpu.docker"; : > "$W/buildcpu.berth"; : > "$W/buildcpu.docker"
# pull_by HOW TOOL SERIES / build_by …: one pull or build by TOOL, its
# figure (HOW: measure for wall ms, cpu for CPU ms) appended to SERIES.
pull_by() {
	clean_pull
	if [ "$2" = berth ]; then "$1" "$B" pull "$REF" >> "$W/$3.berth"; else "$1" "$DOCKER" pull "$REF" >> "$W/$3.docker"; fi
}
build_by() {
	if [ "$2" = berth ]; then "$1" "$B" build --no-cache -q -t bench:1 "$W/ctx" >> "$W/$3.berth"
	else DOCKER_BUILDKIT=0 "$1" "$DOCKER" build --no-cache -q -t bench:1 "$W/ctx" >> "$W/$3.docker"; fi
}
for r in $(seq 1 "$RUNS"); do
	if [ $((r % 2)) = 1 ]; then order="berth docker"; else order="docker berth"; fi
	# The same work twice, for wall time then CPU time, both in the
	# alternating order: on a journal-less ext4 a build's file creations
	# cost more CPU right after many deletions (the allocator skips inodes
	# freed in the last 30 s), so a fixed order would bill the first
	# tool's clean-up to the second.
	for how in measure cpu; do
		series=""; [ "$how" = cpu ] && series=cpu
		for tool in $order; do pull_by "$how" "$tool" "pull$series"; done
		for tool in $order; do build_by "$how" "$tool" "build$series"; done
	done
done

# docker images on 1,000 images.
kill "$SVC_PID"; wait "$SVC_PID" 2>/dev/null || true
rm -rf "$BERTH_ROOT"
go run ./bench/mkimages "$BERTH_ROOT"
"$B" system service --log-level error "unix://$W/docker.sock" >/dev/null &
SVC_PID=$!
for _ in $(seq 100); do [ -S "$W/docker.sock" ] && break; sleep 0.1; done
: > "$W/images.berth"; : > "$W/images.docker"
for r in $(seq 1 $((RUNS * 4))); do
	measure "$B" images >> "$W/images.berth"
	measure "$DOCKER" images >> "$W/images.docker"
done

printf '%-34s %10s %12s %8s\n' "median ms (…cpu: user+sys)" "berth" "docker+API" "ratio"
for s in pull build images pullcpu buildcpu; do
	b=$(median < "$W/$s.berth"); d=$(median < "$W/$s.docker")
	printf '%-34s %10s %12s %8s\n' "$s" "$b" "$d" "$(awk -v b="$b" -v d="$d" 'BEGIN{printf "%.3fx", d/b}')"
done
echo "runs=$RUNS image=${MB}MiB/${LAYERS} gzip layers; $(nproc) cores, $(uname -r); load: $(cut -d' ' -f1-3 /proc/loadavg)"
