#!/usr/bin/env bash
# bench/dive.sh — `berth dive` against dive 0.13.1, side by side, in CI mode.
#
#   big:  ~1.1 GB docker-archive, 8 layers, 20,000 small files + one large file per layer
#   many: docker-archive with 50,000 small files over 4 layers
#   gz:   the big image as an OCI layout with gzip layers (skopeo copy), analysed
#         by berth from the layout, against gunzip of every layer one after the other
#
# Each command runs RUNS times (default 5), alternating tools, page cache warm;
# the table shows medians of wall time, of peak RSS and of CPU time (user +
# system, which the other jobs on a shared machine disturb less than wall
# time) from /usr/bin/time -v.
# dive is installed into the work directory, never into the repository.
# Usage: bench/dive.sh [WORKDIR]   (WORKDIR keeps the images between runs)
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${1:-${DIVE_BENCH_DIR:-/tmp/berth-dive-bench}}
RUNS=${RUNS:-5}
mkdir -p "$WORK/bin"

if [ ! -x "$WORK/bin/dive" ]; then
	echo "installing dive v0.13.1 into $WORK/bin" >&2
	GOFLAGS= GOBIN="$WORK/bin" go install github.com/wagoodman/dive@v0.13.1
fi
go build -o "$WORK/bin/berth" ./cmd/berth
[ -f "$WORK/big.tar" ] || go run ./bench/divegen big "$WORK/big.tar"
[ -f "$WORK/many.tar" ] || go run ./bench/divegen many "$WORK/many.tar"
if [ ! -d "$WORK/big-oci" ] && command -v skopeo >/dev/null; then
	echo "compressing the big image into an OCI layout (once)" >&2
	skopeo copy -q "docker-archive:$WORK/big.tar" "oci:$WORK/big-oci:bench" >&2
fi

# run NAME CMD... : appends "seconds rss_kb" of one run to $WORK/NAME.times
run() {
	local name=$1
	shift
	/usr/bin/time -v -o "$WORK/time.out" "$@" >"$WORK/$name.stdout" 2>/dev/null || true
	local s rss cpu
	s=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); t=0; for(i=1;i<=n;i++) t=t*60+a[i]; print t}' "$WORK/time.out")
	rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$WORK/time.out")
	cpu=$(awk -F': ' '/User time|System time/ {t+=$2} END {print t}' "$WORK/time.out")
	echo "$s $rss $cpu" >>"$WORK/$name.times"
}

median() { # column file
	sort -n -k"$1" "$2" | awk -v c="$1" '{v[NR]=$c} END {print v[int((NR+1)/2)]}'
}

gunzip_layers() {
	local blob
	for blob in $(python3 -c 'import json,sys
d=sys.argv[1]
idx=json.load(open(d+"/index.json"))
m=json.load(open(d+"/blobs/sha256/"+idx["manifests"][0]["digest"][7:]))
print(" ".join(l["digest"][7:] for l in m["layers"]))' "$WORK/big-oci"); do
		gzip -dc <"$WORK/big-oci/blobs/sha256/$blob" >/dev/null
	done
}
export -f gunzip_layers
export WORK

rm -f "$WORK"/*.times
for img in big many; do
	cat "$WORK/$img.tar" >/dev/null # warm the page cache
	for _ in $(seq "$RUNS"); do
		run "dive-$img" env CI=true "$WORK/bin/dive" --source docker-archive "$WORK/$img.tar"
		run "berth-$img" env CI=true "$WORK/bin/berth" dive "docker-archive:$WORK/$img.tar"
	done
	# The reports must agree (the first lines name the source differently).
	if ! cmp -s <(tail -n +4 "$WORK/dive-$img.stdout") <(tail -n +4 "$WORK/berth-$img.stdout"); then
		echo "WARNING: berth and dive reports differ on $img" >&2
	fi
done
if [ -d "$WORK/big-oci" ]; then
	cat "$WORK"/big-oci/blobs/sha256/* >/dev/null
	for _ in $(seq "$RUNS"); do
		run "gunzip-gz" bash -c gunzip_layers
		run "berth-gz" env CI=true "$WORK/bin/berth" dive "oci:$WORK/big-oci:bench"
	done
fi

# The interactive view: time from start until the first screen shows, in a
# tmux terminal, on the 50,000-file image.
if command -v tmux >/dev/null; then
	for i in $(seq "$RUNS"); do
		sock="$WORK/tmux-$i.sock" # a fresh server each run: a dying one refuses new sessions
		start=$(date +%s.%N)
		tmux -S "$sock" new-session -d -s bench -x 160 -y 50 "env CI= $WORK/bin/berth dive docker-archive:$WORK/many.tar; sleep 5"
		for _ in $(seq 1500); do
			tmux -S "$sock" capture-pane -p -t bench 2>/dev/null | grep -q "Current Layer Contents" && break
			sleep 0.02
		done
		end=$(date +%s.%N)
		tmux -S "$sock" kill-server 2>/dev/null || true
		rm -f "$sock"
		echo "$(awk -v a="$start" -v b="$end" 'BEGIN{print b-a}') 0 0" >>"$WORK/tui-many.times"
	done
fi

printf '%-6s %-28s %10s %10s %8s %8s\n' image command "median s" "peak MB" speedup "cpu s"
row() { # image label timesfile basefile
	local s rss sp="" b
	s=$(median 1 "$3")
	rss=$(median 2 "$3")
	if [ -n "${4:-}" ]; then
		b=$(median 1 "$4")
		sp=$(awk -v a="$b" -v c="$s" 'BEGIN { if (c > 0) printf "%.2fx", a / c }')
	fi
	printf '%-6s %-28s %10s %10.1f %8s %8s\n' "$1" "$2" "$s" "$(awk -v r="$rss" 'BEGIN{print r/1024}')" "$sp" "$(median 3 "$3")"
}
for img in big many; do
	row "$img" "dive 0.13.1 (CI=true)" "$WORK/dive-$img.times"
	row "$img" "berth dive (CI=true)" "$WORK/berth-$img.times" "$WORK/dive-$img.times"
done
if [ -f "$WORK/berth-gz.times" ]; then
	row gz "gunzip every layer, serial" "$WORK/gunzip-gz.times"
	row gz "berth dive oci:DIR (gzip)" "$WORK/berth-gz.times" "$WORK/gunzip-gz.times"
fi
if [ -f "$WORK/tui-many.times" ]; then
	printf '%-6s %-28s %10s\n' many "berth dive TUI: first screen" "$(median 1 "$WORK/tui-many.times")"
fi
echo "($(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ), RUNS=$RUNS)"
