#!/usr/bin/env bash
# bench/registry-s3.sh — berth's registry on S3 (SeaweedFS on 127.0.0.1, two
# replicas on one bucket behind a round-robin proxy) against berth's
# filesystem registry, in one run:
#   push and pull of the 1 GiB, 8-layer image (skopeo, the same client on both sides);
#   the same pull with presigned redirects (--s3-redirect), with the bytes that went through berth and the proxy;
#   manifest GET req/s (wrk) on one replica and on two;
#   a tag list of a repository with TAGS (10,000) tags; _catalog of REPOS (10,000) repositories, with the
#   number of LIST requests berth sent to the bucket (registry_storage_action_seconds_count{action="List"}).
#   the CPU time berth and SeaweedFS spend per manifest GET (on a shared machine req/s hits the CPU wall).
# WEED_FLAGS adds flags to `weed server` (e.g. -filer.maxMB=16: 16 MiB chunks instead of 4 MiB; on this
# machine 4, 16 and 64 MiB cost SeaweedFS the same CPU per pushed byte).
# Usage: [RUNS=3] [SIZE=1073741824] [TAGS=10000] [REPOS=10000] [WEED_FLAGS=...] bench/registry-s3.sh
# Needs: go, skopeo, wrk, curl, /usr/bin/time, and the weed binary scripts/test.sh builds.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
SIZE=${SIZE:-1073741824}
LAYERS=${LAYERS:-8}
TAGS=${TAGS:-10000}
REPOS=${REPOS:-10000}
BASE=${PORT:-5500}
WEED_FLAGS=${WEED_FLAGS-}
for bin in skopeo wrk curl /usr/bin/time; do
	command -v "$bin" >/dev/null || { echo "bench: $bin is not installed" >&2; exit 1; }
done
weed_ver=$(sed -n 's/^[[:space:]]*github.com\/seaweedfs\/seaweedfs \(v[^ ]*\).*/\1/p' test/seaweedfs/go.mod | head -1)
WEED="${XDG_CACHE_HOME:-$HOME/.cache}/berth/weed-$weed_ver"
[ -x "$WEED" ] || { echo "bench: $WEED missing: run scripts/test.sh once (it builds SeaweedFS)" >&2; exit 1; }

WORK=$(mktemp -d /tmp/berth-bench-s3.XXXXXX)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT INT TERM
go build -o "$WORK/berth" ./cmd/berth
go build -o "$WORK/rrproxy" ./bench/rrproxy
go build -o "$WORK/s3put" ./bench/s3put
go run ./bench/remote-mkimage -o "$WORK/src" -size "$SIZE" -layers "$LAYERS"

# SeaweedFS: every port explicit; WEED_MASTER_VOLUME_GROWTH_COPY_1 keeps a
# bucket from pre-growing volumes.
S3=127.0.0.1:$BASE
mkdir -p "$WORK/weed"
cat >"$WORK/s3.json" <<JSON
{"identities":[{"name":"bench","credentials":[{"accessKey":"bench","secretKey":"bench-secret"}],"actions":["Admin","Read","Write","List","Tagging"]}]}
JSON
WEED_MASTER_VOLUME_GROWTH_COPY_1=1 "$WEED" server -dir="$WORK/weed" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
	-master.port=$((BASE + 1)) -master.port.grpc=$((BASE + 2)) -volume.port=$((BASE + 3)) -volume.port.grpc=$((BASE + 4)) \
	-filer -filer.port=$((BASE + 5)) -filer.port.grpc=$((BASE + 6)) -s3 -s3.port=$BASE -s3.port.grpc=$((BASE + 7)) \
	-s3.config="$WORK/s3.json" -s3.port.iceberg=0 -s3.port.lance=0 -master.telemetry=false -metricsPort=0 \
	-volume.max=200 $WEED_FLAGS >"$WORK/weed.log" 2>&1 &
PIDS+=($!)
WEED_PID=$!
bucket() { # bucket NAME: create it (weed shell), retrying while SeaweedFS starts
	for _ in $(seq 120); do
		echo "s3.bucket.create -name $1" | "$WEED" shell -master=127.0.0.1:$((BASE + 1)).$((BASE + 2)) >/dev/null 2>&1 || true
		echo "s3.bucket.list" | "$WEED" shell -master=127.0.0.1:$((BASE + 1)).$((BASE + 2)) 2>/dev/null | grep -qw "$1" && return
		sleep 0.5
	done
	echo "bench: SeaweedFS did not come up"; tail -20 "$WORK/weed.log"; exit 1
}
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench-secret AWS_REGION=us-east-1
S3ARGS=(--storage s3 --s3-endpoint "http://$S3" --s3-path-style)

REPLICA_PIDS=()
serve() { # serve PORT ARGS...: start a berth registry, wait until it answers
	local port=$1; shift
	"$WORK/berth" registry serve --addr 127.0.0.1:"$port" "$@" >>"$WORK/berth-$port.log" 2>&1 &
	PIDS+=($!)
	REPLICA_PIDS+=($!)
	for _ in $(seq 200); do curl -fs -o /dev/null "http://127.0.0.1:$port/v2/" && return; sleep 0.05; done
	echo "bench: registry on $port did not start"; cat "$WORK/berth-$port.log"; exit 1
}
stop_replicas() { for p in "${REPLICA_PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; REPLICA_PIDS=(); }
FS=127.0.0.1:$((BASE + 10)) R1=127.0.0.1:$((BASE + 11)) R2=127.0.0.1:$((BASE + 12)) LB=127.0.0.1:$((BASE + 13))
start_s3() { # start_s3 BUCKET ARGS...: two replicas on the bucket (the proxy stays)
	local b=$1; shift
	serve $((BASE + 11)) "${S3ARGS[@]}" --s3-bucket "$b" "$@"
	serve $((BASE + 12)) "${S3ARGS[@]}" --s3-bucket "$b" "$@"
}
# The bucket must accept a signed PUT before the replicas are measured:
# SeaweedFS refuses writes for a while after it starts.
ready() {
	for _ in $(seq 200); do
		[ "$(curl -s -o /dev/null -w '%{http_code}' -X POST --data-binary ready "http://$R1/v2/ready/blobs/uploads/?digest=sha256:$(printf ready | sha256sum | cut -d' ' -f1)")" = 201 ] && return
		sleep 0.3
	done
	echo "bench: the bucket accepts no write"; tail "$WORK/berth-$((BASE + 11)).log"; exit 1
}
"$WORK/rrproxy" -listen "$LB" -backends "$R1,$R2" &
PIDS+=($!)

timed() { # timed LABEL CMD...: appends "seconds" to $WORK/LABEL
	local label=$1; shift
	/usr/bin/time -f "%e" -o "$WORK/.t" "$@" >/dev/null 2>"$WORK/.err" || { cat "$WORK/.err"; exit 1; }
	cat "$WORK/.t" >>"$WORK/$label"
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
SK=(skopeo copy -q --src-tls-verify=false --dest-tls-verify=false)

FS_PID=""
# Push and pull of the big image, each run on fresh storage (a new bucket, a
# new filesystem root), so that nothing is deduplicated or mounted.
for i in $(seq "$RUNS"); do
	[ -n "$FS_PID" ] && { kill "$FS_PID"; wait "$FS_PID" 2>/dev/null || true; }
	stop_replicas
	serve $((BASE + 10)) --root "$WORK/fsroot$i"
	FS_PID=${REPLICA_PIDS[0]}; REPLICA_PIDS=()
	bucket big$i
	start_s3 big$i --s3-redirect=false
	ready
	timed push-fs "${SK[@]}" "oci:$WORK/src:v1" "docker://$FS/big/img:v1"
	timed push-s3 "${SK[@]}" "oci:$WORK/src:v1" "docker://$LB/big/img:v1"
	rm -rf "$WORK/pull"; timed pull-fs "${SK[@]}" "docker://$FS/big/img:v1" "oci:$WORK/pull:v1"
	rm -rf "$WORK/pull"; timed pull-s3 "${SK[@]}" "docker://$LB/big/img:v1" "oci:$WORK/pull:v1"
	rm -rf "$WORK/fsroot$i"
	# The floor: the same blobs PUT straight into a fresh bucket, all at once.
	bucket floor$i
	"$WORK/s3put" -layout "$WORK/src" -endpoint "http://$S3" -bucket floor$i | cut -d' ' -f1 >>"$WORK/push-floor"
done
berth_bytes() { # bytes the replicas sent in responses
	local n=0
	for r in $R1 $R2; do
		n=$((n + $(curl -s "http://$r/metrics" | awk '/^registry_http_response_size_bytes_sum/ {s += $2} END {printf "%d", s}')))
	done
	echo $n
}
lb_bytes() { curl -s "http://$LB/_rrproxy/bytes"; }
b0=$(berth_bytes); l0=$(lb_bytes)
rm -rf "$WORK/pull"; "${SK[@]}" "docker://$LB/big/img:v1" "oci:$WORK/pull:v1"
nored_berth=$(($(berth_bytes) - b0)) nored_lb=$(($(lb_bytes) - l0))

# The same pulls with presigned redirects: blobs come from the bucket.
stop_replicas
start_s3 big$RUNS
for i in $(seq "$RUNS"); do
	rm -rf "$WORK/pull"; timed pull-s3-redirect "${SK[@]}" "docker://$LB/big/img:v1" "oci:$WORK/pull:v1"
done
b0=$(berth_bytes); l0=$(lb_bytes)
rm -rf "$WORK/pull"; "${SK[@]}" "docker://$LB/big/img:v1" "oci:$WORK/pull:v1"
red_berth=$(($(berth_bytes) - b0)) red_lb=$(($(lb_bytes) - l0))

# Manifest GET by tag: one replica alone, then both at once (one wrk each,
# the same total connections).
M="/v2/big/img/manifests/v1"
H='Accept: application/vnd.oci.image.manifest.v1+json'
rps() { awk '/Requests\/sec/ {print $2}' "$1"; }
reqs() { awk '/requests in/ {print $1}' "$1"; }
ticks() { # ticks PID...: CPU time (user + system, clock ticks) the processes used so far
	local t=0 p
	for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done
	echo "$t"
}
HZ=$(getconf CLK_TCK)
for i in $(seq "$RUNS"); do
	b0=$(ticks "${REPLICA_PIDS[0]}") w0=$(ticks "$WEED_PID")
	wrk -t2 -c16 -d5s -H "$H" "http://$R1$M" >"$WORK/w1"
	b1=$(ticks "${REPLICA_PIDS[0]}") w1=$(ticks "$WEED_PID")
	rps "$WORK/w1" >>"$WORK/get-one"
	n=$(reqs "$WORK/w1")
	# microseconds of CPU per request, berth's and SeaweedFS's
	echo "$(( (b1 - b0) * 1000000 / HZ / n )) $(( (w1 - w0) * 1000000 / HZ / n ))" >>"$WORK/get-cpu"
	wrk -t1 -c8 -d5s -H "$H" "http://$R1$M" >"$WORK/w2a" & wa=$!
	wrk -t1 -c8 -d5s -H "$H" "http://$R2$M" >"$WORK/w2b"
	wait $wa
	echo "$(rps "$WORK/w2a") + $(rps "$WORK/w2b")" | bc >>"$WORK/get-two"
done

# TAGS tags on one repository (1,000 per PUT with OCI's ?tag=), then the tag list.
cfg='{"architecture":"amd64","os":"linux"}'
cd_=sha256:$(printf %s "$cfg" | sha256sum | cut -d' ' -f1)
curl -fs -o /dev/null -X POST --data-binary "$cfg" "http://$R1/v2/tags/app/blobs/uploads/?digest=$cd_"
man='{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"'$cd_'","size":'${#cfg}'},"layers":[]}'
md=sha256:$(printf %s "$man" | sha256sum | cut -d' ' -f1)
for start in $(seq 0 1000 $((TAGS - 1))); do
	q=$(seq "$start" $((start + 999 < TAGS - 1 ? start + 999 : TAGS - 1)) | sed 's/^/tag=v/' | paste -sd'&')
	curl -fs -o /dev/null -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' --data-binary "$man" "http://$R1/v2/tags/app/manifests/$md?$q"
done
ntags=$(curl -s "http://$R2/v2/tags/app/tags/list" | grep -o '"v[0-9]*"' | wc -l)
for i in $(seq 10); do curl -s -o /dev/null -w '%{time_total}\n' "http://$R2/v2/tags/app/tags/list" >>"$WORK/taglist"; done
cold_tags=$(head -1 "$WORK/taglist")

# REPOS repositories, each a sparse (empty) index: one PUT each, 8 at a time.
idx='{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}'
s=$(date +%s)
seq "$REPOS" | xargs -P8 -I{} curl -fs -o /dev/null -X PUT -H 'Content-Type: application/vnd.oci.image.index.v1+json' --data-binary "$idx" "http://$LB/v2/cat/r{}/manifests/v1"
fill=$(($(date +%s) - s))
lists() { curl -s "http://$R2/metrics" | awk '/^registry_storage_action_seconds_count\{action="List"/ {s += $2} END {printf "%d", s}'; }
l0=$(lists)
for i in $(seq 10); do curl -s -o "$WORK/catalog" -w '%{time_total}\n' "http://$R2/v2/_catalog?n=100000" >>"$WORK/catalog-t"; done
nrepos=$(grep -o '"cat/r[0-9]*"' "$WORK/catalog" | wc -l)
catlists=$(($(lists) - l0))

ms() { awk '{printf "%.1f", $1 * 1000}'; }
printf '\n%s, %s cores, load %s; image %d MiB in %d layers; median of %d runs\n' "$(date -u +%Y-%m-%dT%H:%MZ)" "$(nproc)" "$(cut -d' ' -f1 /proc/loadavg)" $((SIZE >> 20)) "$LAYERS" "$RUNS"
for op in push pull; do
	f=$(median <"$WORK/$op-fs") s=$(median <"$WORK/$op-s3")
	printf '%-5s filesystem %6.2f s   S3, 2 replicas %6.2f s   ratio %.2f\n' "$op" "$f" "$s" "$(echo "$s / $f" | bc -l)"
done
printf 'push  floor: the same blobs PUT straight into SeaweedFS with the same client %6.2f s\n' "$(median <"$WORK/push-floor")"
r=$(median <"$WORK/pull-s3-redirect")
printf 'pull  S3 with --s3-redirect %6.2f s   ratio to filesystem %.2f\n' "$r" "$(echo "$r / $(median <"$WORK/pull-fs")" | bc -l)"
printf 'bytes of one pull through berth / the proxy: without redirect %d / %d, with redirect %d / %d\n' "$nored_berth" "$nored_lb" "$red_berth" "$red_lb"
one=$(median <"$WORK/get-one") two=$(median <"$WORK/get-two")
printf 'manifest GET: one replica %.0f req/s, two replicas %.0f req/s, ratio %.2f\n' "$one" "$two" "$(echo "$two / $one" | bc -l)"
printf 'manifest GET, one replica: CPU per request %s µs in berth, %s µs in SeaweedFS (median); %.0f requests per CPU-second of both\n' \
	"$(cut -d' ' -f1 "$WORK/get-cpu" | median)" "$(cut -d' ' -f2 "$WORK/get-cpu" | median)" \
	"$(echo "1000000 / ($(cut -d' ' -f1 "$WORK/get-cpu" | median) + $(cut -d' ' -f2 "$WORK/get-cpu" | median))" | bc -l)"
printf 'tag list of %d tags: %s ms (first, cold cache), median %s ms of 10\n' "$ntags" "$(echo "$cold_tags" | ms)" "$(median <"$WORK/taglist" | ms)"
printf '_catalog of %d repositories (filled in %d s): median %s ms of 10, %d LIST requests to the bucket\n' "$nrepos" "$fill" "$(median <"$WORK/catalog-t" | ms)" "$catlists"
