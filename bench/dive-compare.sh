#!/usr/bin/env bash
# bench/dive-compare.sh — differential check of `berth dive` against dive 0.13.1:
# N random images (bench/divegen random), both tools in CI mode, stdout and exit
# status compared byte for byte. Prints the seeds that differ; exit 1 if any.
# Usage: bench/dive-compare.sh [N] [WORKDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-200}
WORK=${2:-${DIVE_BENCH_DIR:-/tmp/berth-dive-bench}}
mkdir -p "$WORK/bin" "$WORK/compare"
if [ ! -x "$WORK/bin/dive" ]; then
	GOFLAGS= GOBIN="$WORK/bin" go install github.com/wagoodman/dive@v0.13.1
fi
go build -o "$WORK/bin/berth" ./cmd/berth
go build -o "$WORK/bin/divegen" ./bench/divegen
cd "$WORK/compare"
fails=0
for seed in $(seq 1 "$N"); do
	"$WORK/bin/divegen" random img.tar "$seed"
	set +e
	CI=true "$WORK/bin/dive" --source docker-archive img.tar >dive.out 2>/dev/null
	drc=$?
	CI=true "$WORK/bin/berth" dive docker-archive:img.tar >berth.out 2>/dev/null
	brc=$?
	set -e
	if [ "$drc" != "$brc" ] || ! cmp -s dive.out berth.out; then
		echo "seed $seed differs (exit $drc vs $brc)"
		cp img.tar "fail-$seed.tar"
		fails=$((fails + 1))
	fi
done
echo "$N images, $fails differ"
[ "$fails" = 0 ]
