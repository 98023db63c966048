#!/usr/bin/env bash
# Benchmark of berth's registry as a pull-through cache against the CNCF
# registry's proxy mode (docker-registry, proxy.remoteurl), both in front of
# one upstream CNCF registry on 127.0.0.1, with skopeo as the client:
#   cold: the cache is empty, every blob comes through from the upstream;
#   warm: a second pull, served from the cache.
# The image is deterministic: SIZE bytes in LAYERS uncompressed layers.
#
#   bench/proxy.sh                 # RUNS=3 SIZE=536870912 LAYERS=8
#   BERTH_BIN=/path/to/berth bench/proxy.sh
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-3}
SIZE=${SIZE:-536870912}
LAYERS=${LAYERS:-8}
WORK=${WORK:-$(mktemp -d /tmp/berth-bench-proxy.XXXXXX)}
UP=127.0.0.1:5381 BP=127.0.0.1:5382 CP=127.0.0.1:5383

for p in docker-registry skopeo; do
	command -v "$p" >/dev/null || { echo "missing $p (scripts/test.sh installs the peers)"; exit 1; }
done
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

if [ -n "${BERTH_BIN:-}" ]; then cp "$BERTH_BIN" "$WORK/berth"; else go build -o "$WORK/berth" ./cmd/berth; fi
go run ./bench/remote-mkimage -o "$WORK/src" -size "$SIZE" -layers "$LAYERS"

cncf_config() { # ADDR ROOT [REMOTE]
	printf 'version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: %s\n' "$2" "$1"
	[ -n "${3:-}" ] && printf 'proxy:\n  remoteurl: %s\n' "$3"
	return 0
}
wait_port() { for _ in $(seq 200); do (exec 3<>/dev/tcp/${1%:*}/${1#*:}) 2>/dev/null && return; sleep 0.05; done; echo "nothing listens on $1"; exit 1; }

cncf_config "$UP" "$WORK/up" >"$WORK/up.yml"
docker-registry serve "$WORK/up.yml" >"$WORK/up.log" 2>&1 & PIDS+=($!)
wait_port "$UP"
skopeo copy -q --dest-tls-verify=false "oci:$WORK/src:v1" "docker://$UP/bench/img:v1"

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
pull() { # LABEL HOST
	rm -rf "$WORK/out"
	local s; s=$(date +%s%N)
	skopeo copy -q --src-tls-verify=false "docker://$2/bench/img:v1" "oci:$WORK/out:v1" >/dev/null
	echo "scale=3; ($(date +%s%N) - $s) / 1000000000" | bc >>"$WORK/$1"
}

for i in $(seq "$RUNS"); do
	rm -rf "$WORK/bp" "$WORK/cp"
	REGISTRY_PROXY_REMOTEURL="http://$UP" "$WORK/berth" registry serve --root "$WORK/bp" --addr "$BP" -l warn >"$WORK/bp.log" 2>&1 & bp=$!
	cncf_config "$CP" "$WORK/cp" "http://$UP" >"$WORK/cp.yml"
	docker-registry serve "$WORK/cp.yml" >"$WORK/cp.log" 2>&1 & cp=$!
	wait_port "$BP"; wait_port "$CP"
	if ((i % 2)); then pull cold-berth "$BP"; pull cold-cncf "$CP"; else pull cold-cncf "$CP"; pull cold-berth "$BP"; fi
	if ((i % 2)); then pull warm-berth "$BP"; pull warm-cncf "$CP"; else pull warm-cncf "$CP"; pull warm-berth "$BP"; fi
	kill "$bp" "$cp"; wait "$bp" "$cp" 2>/dev/null || true
done

printf '\n%s, %s cores (load %s), %d MiB in %d layers, skopeo copy through each cache, median of %d runs (seconds)\n' \
	"$(date -u +%Y-%m-%dT%H:%MZ)" "$(nproc)" "$(cut -d' ' -f1 /proc/loadavg)" $((SIZE >> 20)) "$LAYERS" "$RUNS"
printf '%-5s %8s %8s %6s\n' pull berth cncf ratio
for k in cold warm; do
	b=$(median <"$WORK/$k-berth"); c=$(median <"$WORK/$k-cncf")
	printf '%-5s %8.2f %8.2f %6.2f\n' "$k" "$b" "$c" "$(echo "$b / $c" | bc -l)"
done
