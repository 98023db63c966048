#!/usr/bin/env bash
# bench/registry.sh — berth registry serve vs the CNCF registry (docker-registry),
# side by side in one run, with wrk as the load:
#   manifest GET by tag, 1 MiB blob GET (wrk), blob HEAD (ab: wrk cannot do HEAD); without and with htpasswd auth;
#   peak resident memory of each server.
#   the loopback ceiling for blob GET: the same wrk load against a bare Go file server (sendfile);
#   a skopeo push of a BIG_MB (default 1024, 0 skips) MiB image into each, with the servers' peak RSS.
# Usage: [RUNS=3] [BIG_MB=1024] bench/registry.sh [seconds-per-run (default 2)] [connections (default 16)]
# Each figure is the median of RUNS runs (the machine is shared: single runs are noisy).
# Needs: go, wrk, ab, curl, skopeo, docker-registry, htpasswd (apache2-utils). Listens on 127.0.0.1 only.
set -euo pipefail
DUR=${1:-2}
CONNS=${2:-16}
RUNS=${RUNS:-3} # each case runs RUNS times; the median is reported
THREADS=2
cd "$(dirname "$0")/.."
BIG_MB=${BIG_MB:-1024}
for bin in wrk ab curl htpasswd skopeo /usr/bin/docker-registry; do
	command -v "$bin" >/dev/null || { echo "bench: $bin is not installed" >&2; exit 1; }
done
WORK=$(mktemp -d)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT

go build -o "$WORK/berth" ./cmd/berth
htpasswd -Bbc "$WORK/htpasswd" bench benchpw >/dev/null 2>&1
AUTH="Authorization: Basic $(printf 'bench:benchpw' | base64)"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_up() { for _ in $(seq 100); do curl -s -o /dev/null "http://$1/v2/" && return 0; sleep 0.05; done; echo "bench: $1 did not start" >&2; exit 1; }

# start_server KIND AUTH(0/1) -> sets ADDR and PID
start_server() {
	local kind=$1 auth=$2 port
	port=$(free_port)
	ADDR=127.0.0.1:$port
	local root="$WORK/$kind-$auth"
	[ "$auth" = big ] && auth=0
	mkdir -p "$root"
	if [ "$kind" = berth ]; then
		local args=(registry serve --root "$root/data" --addr "$ADDR")
		[ "$auth" = 1 ] && args+=(--htpasswd "$WORK/htpasswd")
		"$WORK/berth" "${args[@]}" 2>/dev/null &
	else
		{
			echo "version: 0.1"
			echo "log: {level: error, accesslog: {disabled: false}}"
			# The in-memory blob descriptor cache is what registry:2's image ships.
			echo "storage: {filesystem: {rootdirectory: $root/data}, delete: {enabled: true}, cache: {blobdescriptor: inmemory}}"
			echo "http: {addr: $ADDR}"
			[ "$auth" = 1 ] && echo "auth: {htpasswd: {realm: bench, path: $WORK/htpasswd}}"
		} >"$root/config.yml"
		/usr/bin/docker-registry serve "$root/config.yml" >/dev/null 2>&1 &
	fi
	PID=$!
	PIDS+=("$PID")
	wait_up "$ADDR"
}

# Test content: a 1 MiB layer, a config and a manifest pushed with curl.
head -c $((1 << 20)) /dev/urandom >"$WORK/layer"
printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}' >"$WORK/config"
LAYER=sha256:$(sha256sum "$WORK/layer" | cut -d' ' -f1)
CONFIG=sha256:$(sha256sum "$WORK/config" | cut -d' ' -f1)
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"%s","size":%d}]}' \
	"$CONFIG" "$(stat -c %s "$WORK/config")" "$LAYER" "$(stat -c %s "$WORK/layer")" >"$WORK/manifest"

push() { # ADDR HDR
	local base="http://$1/v2/bench/img" hdr=$2 f loc
	for f in layer config; do
		loc=$(curl -sf -H "$hdr" -X POST -D - -o /dev/null "$base/blobs/uploads/" | tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
		case $loc in http*) ;; *) loc="http://$1$loc" ;; esac
		case $loc in *\?*) sep='&' ;; *) sep='?' ;; esac
		local d=$LAYER; [ $f = config ] && d=$CONFIG
		curl -sf -H "$hdr" -X PUT -H 'Content-Type: application/octet-stream' --data-binary @"$WORK/$f" "$loc${sep}digest=$d" -o /dev/null
	done
	curl -sf -H "$hdr" -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' --data-binary @"$WORK/manifest" "$base/manifests/latest" -o /dev/null
}

# wrk cannot measure HEAD (its parser waits for the body Content-Length
# announces), so HEAD goes through ab (apache2-utils) with keep-alive.
run_ab_head() { # URL HDR -> req/s
	local args=(-q -i -k -c "$CONNS" -t "$DUR" -n 100000000)
	[ -n "$2" ] && args+=(-H "$2")
	local out
	out=$(ab "${args[@]}" "$1" 2>&1)
	if echo "$out" | grep -q 'Non-2xx'; then echo "bench: non-2xx responses from $1" >&2; echo "$out" >&2; exit 1; fi
	echo "$out" | awk '/Requests per second/ {printf "%.0f 0", $4}'
}

# run_wrk URL HDR [script] -> prints req/s and MB/s
run_wrk() {
	local url=$1 hdr=$2 script=${3:-}
	local args=(-t"$THREADS" -c"$CONNS" -d"${DUR}s" -H "Accept: application/vnd.oci.image.manifest.v1+json")
	[ -n "$hdr" ] && args+=(-H "$hdr")
	[ -n "$script" ] && args+=(-s "$script")
	local out
	out=$(wrk "${args[@]}" "$url" 2>&1)
	if echo "$out" | grep -q 'Non-2xx'; then echo "bench: non-2xx responses from $url" >&2; echo "$out" >&2; exit 1; fi
	local rps mbs
	rps=$(echo "$out" | awk '/Requests\/sec/ {printf "%.0f", $2}')
	mbs=$(echo "$out" | awk '/Transfer\/sec/ {v=$2; if (v ~ /GB/) {sub("GB","",v); v*=1024} else if (v ~ /KB/) {sub("KB","",v); v/=1024} else sub("MB","",v); printf "%.0f", v}')
	echo "$rps $mbs"
}

# median CMD... -> runs CMD RUNS times, prints the run with the median first field
median() {
	local i
	for i in $(seq "$RUNS"); do "$@"; echo; done | sed '/^$/d' | sort -n -k1,1 | awk '{a[NR]=$0} END {print a[int((NR+1)/2)]}'
}

# All four servers run at once and each case cycles through them run by
# run, so that load from elsewhere on the machine hits all of them alike.
declare -A R ADDRS SPIDS
for auth in 0 1; do
	for kind in berth cncf; do
		start_server $kind $auth
		hdr=""; [ $auth = 1 ] && hdr=$AUTH
		push "$ADDR" "${hdr:-X-None: 1}"
		ADDRS[$kind,$auth]=$ADDR
		SPIDS[$kind,$auth]=$PID
	done
done
for c in manifest blob head; do
	declare -A runs=()
	for i in $(seq "$RUNS"); do
		for auth in 0 1; do
			hdr=""; [ $auth = 1 ] && hdr=$AUTH
			for kind in berth cncf; do
				base="http://${ADDRS[$kind,$auth]}/v2/bench/img"
				case $c in
				manifest) runs[$kind,$auth]+="$(run_wrk "$base/manifests/latest" "$hdr")"$'\n' ;;
				blob) runs[$kind,$auth]+="$(run_wrk "$base/blobs/$LAYER" "$hdr")"$'\n' ;;
				head) runs[$kind,$auth]+="$(run_ab_head "$base/blobs/$LAYER" "$hdr")"$'\n' ;;
				esac
			done
		done
	done
	for k in "${!runs[@]}"; do
		R[$k,$c]=$(printf '%s' "${runs[$k]}" | sed '/^$/d' | sort -n -k1,1 | awk '{a[NR]=$0} END {print a[int((NR+1)/2)]}')
	done
	unset runs
done
for auth in 0 1; do
	for kind in berth cncf; do
		R[$kind,$auth,rss]=$(awk '/VmHWM/ {printf "%.0f", $2/1024}' /proc/${SPIDS[$kind,$auth]}/status)
		kill "${SPIDS[$kind,$auth]}"; wait "${SPIDS[$kind,$auth]}" 2>/dev/null || true
	done
done

# The yardstick for blob GET: the same wrk load against a bare Go file
# server sending the same 1 MiB file with sendfile on the same loopback --
# what this machine's loopback and client can move at best.
mkdir -p "$WORK/loop"
cat >"$WORK/loop/main.go" <<'GO'
package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
)

func main() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	fmt.Println(ln.Addr())
	file := os.Args[1]
	http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, file)
	}))
}
GO
printf 'module loop\ngo 1.24\n' >"$WORK/loop/go.mod"
(cd "$WORK/loop" && go build -o loop .)
"$WORK/loop/loop" "$WORK/layer" >"$WORK/loop/addr" &
LPID=$!
PIDS+=("$LPID")
for _ in $(seq 100); do [ -s "$WORK/loop/addr" ] && break; sleep 0.05; done
LOOP=$(median run_wrk "http://$(cat "$WORK/loop/addr")/layer" "")
LOOP=${LOOP#* }
kill "$LPID"; wait "$LPID" 2>/dev/null || true

# A BIG_MB MiB image pushed with skopeo from an OCI layout into each server
# (fresh, no auth); the time and the server's peak RSS afterwards.
if [ "$BIG_MB" -gt 0 ]; then
	big="$WORK/big"
	mkdir -p "$big/blobs/sha256"
	head -c $((BIG_MB << 20)) /dev/urandom >"$big/layer"
	bl=$(sha256sum "$big/layer" | cut -d' ' -f1)
	mv "$big/layer" "$big/blobs/sha256/$bl"
	cp "$WORK/config" "$big/blobs/sha256/${CONFIG#sha256:}"
	printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%d}]}' \
		"$CONFIG" "$(stat -c %s "$WORK/config")" "$bl" $((BIG_MB << 20)) >"$big/manifest"
	bm=$(sha256sum "$big/manifest" | cut -d' ' -f1)
	mv "$big/manifest" "$big/blobs/sha256/$bm"
	printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%d,"annotations":{"org.opencontainers.image.ref.name":"big"}}]}' \
		"$bm" "$(stat -c %s "$big/blobs/sha256/$bm")" >"$big/index.json"
	echo '{"imageLayoutVersion":"1.0.0"}' >"$big/oci-layout"
	for kind in berth cncf; do
		start_server "$kind" big
		t0=$(date +%s.%N)
		HOME=$WORK skopeo --insecure-policy copy -q --preserve-digests --dest-tls-verify=false "oci:$big:big" "docker://$ADDR/bench/big:v1" >/dev/null
		t1=$(date +%s.%N)
		R[$kind,push]=$(echo "$t1 - $t0" | bc -l)
		R[$kind,pushrss]=$(awk '/VmHWM/ {printf "%.0f", $2/1024}' /proc/$PID/status)
		kill "$PID"; wait "$PID" 2>/dev/null || true
	done
	rm -rf "$big"
fi

echo "# berth registry serve vs CNCF registry $(/usr/bin/docker-registry --version 2>/dev/null | awk '{print $3}'), $(date -u +%F), $(nproc) cores, wrk/ab -c$CONNS, median of $RUNS alternating runs of ${DUR}s"
printf '%-34s %12s %12s %8s\n' case berth cncf ratio
for auth in 0 1; do
	sfx=""; [ $auth = 1 ] && sfx=" (htpasswd)"
	for c in manifest blob head; do
		read -r b bm <<<"${R[berth,$auth,$c]}"
		read -r n nm <<<"${R[cncf,$auth,$c]}"
		label="manifest GET by tag req/s"; [ $c = blob ] && label="1 MiB blob GET req/s"; [ $c = head ] && label="blob HEAD req/s"
		printf '%-34s %12s %12s %7.2fx\n' "$label$sfx" "$b" "$n" "$(echo "$b / $n" | bc -l)"
		[ $c = blob ] && printf '%-34s %12s %12s\n' "  blob GET MB/s$sfx" "$bm" "$nm"
	done
	printf '%-34s %12s %12s\n' "peak RSS MiB$sfx" "${R[berth,$auth,rss]}" "${R[cncf,$auth,rss]}"
done
if [ "$BIG_MB" -gt 0 ]; then
	printf '%-34s %12.1f %12.1f %7.2fx\n' "skopeo push ${BIG_MB} MiB, seconds" "${R[berth,push]}" "${R[cncf,push]}" "$(echo "${R[cncf,push]} / ${R[berth,push]}" | bc -l)"
	printf '%-34s %12s %12s\n' "peak RSS MiB during that push" "${R[berth,pushrss]}" "${R[cncf,pushrss]}"
fi
read -r bm _ <<<"${R[berth,0,blob]}"
printf 'bare Go file server (sendfile), same wrk load: %s MB/s; berth blob GET reaches %.0f%% of it\n' "$LOOP" "$(echo "100 * $bm / $LOOP" | bc -l)"
read -r b _ <<<"${R[berth,0,manifest]}"; read -r ba _ <<<"${R[berth,1,manifest]}"
printf 'berth manifest GET with auth / without: %.0f%%\n' "$(echo "100 * $ba / $b" | bc -l)"
