#!/usr/bin/env bash
# Benchmark of berth pull/push against skopeo copy doing the same transfer,
# in the same run, against one local CNCF registry (docker-registry) on
# 127.0.0.1. The image is deterministic and built like a real one
# (bench/remote-mkimage): 1 GiB of small and large text, binary-like and
# random files in 8 gzip layers, about 787 MB as stored. Each figure is the
# median of RUNS runs; RSS is the maximum resident set size (GNU time).
# Pull destinations start empty every run; push targets a registry whose
# storage is wiped before every run. "floor" is bench/remote-floor: the same
# blobs fetched 3 at a time, hashed, written and fsynced, and nothing else;
# "floor-direct" the same with O_DIRECT writes (no page cache), as berth
# writes layers.
#
#   bench/remote.sh            # RUNS=5 SIZE=1073741824 LAYERS=8 GZIP=1
#   RUNS=1 SIZE=268435456 bench/remote.sh   # a quick look
#   GZIP=0 bench/remote.sh                   # plain tar layers
#   BERTH_BIN=/path/to/berth bench/remote.sh # measure a given binary
#   OPS=pull bench/remote.sh                 # pull only
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-5}
OPS=${OPS:-pull push}
SIZE=${SIZE:-1073741824}
LAYERS=${LAYERS:-8}
GZIP=${GZIP:-1}
WORK=${WORK:-$(mktemp -d /tmp/berth-bench-remote.XXXXXX)}
PORT=${PORT:-5391}
HOST=127.0.0.1:$PORT
REF=$HOST/bench/img:v1

for p in docker-registry skopeo /usr/bin/time; do
	command -v "$p" >/dev/null || { echo "missing $p (scripts/test.sh installs the peers)"; exit 1; }
done

REG_PID=""
cleanup() {
	[ -n "$REG_PID" ] && kill "$REG_PID" 2>/dev/null && wait "$REG_PID" 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT

if [ -n "${BERTH_BIN:-}" ]; then cp "$BERTH_BIN" "$WORK/berth"; else go build -o "$WORK/berth" ./cmd/berth; fi
go build -o "$WORK/floor" ./bench/remote-floor
go run ./bench/remote-mkimage -o "$WORK/src" -size "$SIZE" -layers "$LAYERS" -gzip="$([ "$GZIP" = 1 ] && echo true || echo false)" 2>"$WORK/mkimage.log"
cat "$WORK/mkimage.log"
TAR_BYTES=$(sed -n 's/.* \([0-9]*\) bytes of tar.*/\1/p' "$WORK/mkimage.log")
STORED_BYTES=$(sed -n 's/.* \([0-9]*\) bytes as stored.*/\1/p' "$WORK/mkimage.log")
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

cat >"$WORK/registry.yml" <<YML
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $WORK/registry
http:
  addr: $HOST
YML

start_registry() { # fresh: wipe the storage first when $1 = fresh
	[ -n "$REG_PID" ] && { kill "$REG_PID"; wait "$REG_PID" 2>/dev/null || true; REG_PID=""; }
	[ "${1:-}" = fresh ] && rm -rf "$WORK/registry"
	docker-registry serve "$WORK/registry.yml" >"$WORK/registry.log" 2>&1 &
	REG_PID=$!
	for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && return; sleep 0.05; done
	echo "registry did not start"; cat "$WORK/registry.log"; exit 1
}

# timed LABEL CMD...: runs CMD under GNU time, appends "seconds rss_kib cpu_seconds" to $WORK/LABEL.
timed() {
	local label=$1; shift
	sync
	/usr/bin/time -f "%e %M %U %S" -o "$WORK/.t" "$@" >/dev/null 2>"$WORK/.err" || { cat "$WORK/.err"; exit 1; }
	awk '{print $1, $2, $3 + $4}' "$WORK/.t" >>"$WORK/$label"
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
col() { awk -v c="$2" '{print $c}' "$WORK/$1"; }

export DOCKER_CONFIG=$WORK/docker BERTH_CONFIG=$WORK/berth.json
start_registry fresh
skopeo copy -q --dest-tls-verify=false "oci:$WORK/src:v1" "docker://$REF"

# Each tool's previous output is removed just before its own run, and the
# order alternates: on a VM whose freed memory goes back to the host, pages
# freed seconds earlier cost a host fault on first touch (measured here:
# touching 1 GiB of such memory takes 2.5 s, of recently freed memory
# 0.35 s), so whoever ran second on memory the other freed paid for it.
pull_skopeo() { rm -rf "$WORK/sk-oci"; timed pull-skopeo skopeo copy -q --src-tls-verify=false "docker://$REF" "oci:$WORK/sk-oci:v1"; }
pull_berth() { rm -rf "$WORK/root"; timed pull-berth env BERTH_ROOT="$WORK/root" "$WORK/berth" pull -q "$REF"; }
pull_floor() { rm -rf "$WORK/floor-out"; timed pull-floor "$WORK/floor" -ref "$REF" -o "$WORK/floor-out"; }
pull_floor_direct() { rm -rf "$WORK/floor-out"; timed pull-floor-direct "$WORK/floor" -direct -ref "$REF" -o "$WORK/floor-out"; }
order=(pull_skopeo pull_berth pull_floor pull_floor_direct)
for i in $(seq "$RUNS"); do
	# Rotate who goes first, second, third and last.
	for j in 0 1 2 3; do ${order[$(((i + j) % 4))]}; done
done
rm -rf "$WORK/floor-out"

# What `berth images` says right after the pull, against the true sum of
# the layers' uncompressed sizes.
SHOWN=$(BERTH_ROOT="$WORK/root" "$WORK/berth" images --format '{{.Size}}' "$REF")

# Second pull: nothing to fetch.
for i in $(seq 10); do
	s=$(date +%s%N)
	BERTH_ROOT="$WORK/root" "$WORK/berth" pull -q "$REF" >/dev/null
	echo $(( ($(date +%s%N) - s) / 1000000 )) >>"$WORK/repull"
done

# Both sources in the page cache before each push, as right after a build:
# berth's pull wrote its store with O_DIRECT (nothing cached) while skopeo's
# layout went through the page cache, which would hand skopeo reads from
# memory and berth reads from the disk.
warm() { cat "$WORK"/root/blobs/sha256/* "$WORK"/sk-oci/blobs/sha256/* >/dev/null; }
[[ " $OPS " == *" push "* ]] && for i in $(seq "$RUNS"); do
	warm
	start_registry fresh
	timed push-skopeo skopeo copy -q --dest-tls-verify=false "oci:$WORK/sk-oci:v1" "docker://$REF"
	warm
	start_registry fresh
	timed push-berth env BERTH_ROOT="$WORK/root" "$WORK/berth" push -q "$REF"
done

printf '\n%s, %s (load at start %s, at end %s), image %d MiB in %d layers (%s bytes stored), median of %d runs (seconds wall, CPU seconds user+sys, max RSS MiB)\n' "$(date -u +%Y-%m-%dT%H:%MZ)" "$(nproc) cores" "$LOAD_START" "$(cut -d' ' -f1-3 /proc/loadavg)" $((SIZE >> 20)) "$LAYERS" "$STORED_BYTES" "$RUNS"
printf '%-6s %9s %9s %6s %9s %9s %10s %10s\n' op berth_s skopeo_s ratio berth_cpu skopeo_cpu berth_MiB skopeo_MiB
for op in $OPS; do
	b=$(col "$op-berth" 1 | median); s=$(col "$op-skopeo" 1 | median)
	br=$(col "$op-berth" 2 | median); sr=$(col "$op-skopeo" 2 | median)
	bc_=$(col "$op-berth" 3 | median); sc=$(col "$op-skopeo" 3 | median)
	printf '%-6s %9.2f %9.2f %6.2f %9.2f %9.2f %10.1f %10.1f\n' "$op" "$b" "$s" "$(echo "$b / $s" | bc -l)" "$bc_" "$sc" "$(echo "$br / 1024" | bc -l)" "$(echo "$sr / 1024" | bc -l)"
done
floor_row() { # LABEL FILE NOTE
	printf '%-6s %9.2f %9s %6.2f %9.2f %9s %10.1f   (%s; ratio: floor/skopeo)\n' "$1" "$(col "$2" 1 | median)" - "$(echo "$(col "$2" 1 | median) / $(col pull-skopeo 1 | median)" | bc -l)" "$(col "$2" 3 | median)" - "$(echo "$(col "$2" 2 | median) / 1024" | bc -l)" "$3"
}
if [[ " $OPS " == *" pull "* ]]; then
	floor_row floor pull-floor "fetch, sha256, write, fsync only"
	floor_row floor-d pull-floor-direct "the same, O_DIRECT writes"
fi
printf 'second pull (nothing to fetch): median %s ms of 10\n' "$(median <"$WORK/repull")"
printf 'berth images SIZE right after the pull: %s (the layers hold %s bytes uncompressed)\n' "$SHOWN" "$TAR_BYTES"
