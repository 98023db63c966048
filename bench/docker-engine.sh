#!/usr/bin/env bash
# bench/docker-engine.sh — berth save/load beside the Docker Engine of this
# machine, on the same image, in the same run.
#
# The image: busybox (Debian's busybox-static) plus one layer of 64 MiB
# (seeded random data and text in 2,000 files), built by berth and loaded
# into Docker once.
#
#   save:  berth save -o FILE IMAGE                     vs  docker save -o FILE IMAGE
#   load:  berth load -i FILE (docker's archive, fresh) vs  docker load -i FILE (image removed first)
#
# Docker's work happens in its daemon, so only wall time is comparable
# (berth's CPU time is printed too). Medians of $RUNS interleaved runs; note
# the load average printed with them. Usage: bench/docker-engine.sh (RUNS=5)
set -euo pipefail
cd "$(dirname "$0")/.."
W=${BENCH_DIR:-/var/tmp/berth-bench-docker}
RUNS=${RUNS:-5}
mkdir -p "$W"
for t in docker python3 /usr/bin/time busybox; do
	command -v "$t" >/dev/null || { echo "bench/docker-engine.sh needs $t" >&2; exit 1; }
done
docker version --format '{{.Server.Version}}' >/dev/null
go build -o "$W/berth" ./cmd/berth
B="$W/berth --root $W/root"
NAME=berth-bench-docker-$$
trap 'docker rmi $NAME:big >/dev/null 2>&1 || true; rm -rf $W/root $W/root2 $W/ctx $W/*.tar' EXIT

rm -rf "$W/root" "$W/ctx"
mkdir -p "$W/ctx/rootfs/bin" "$W/ctx/data"
cp "$(command -v busybox)" "$W/ctx/rootfs/bin/busybox"
ln -sf busybox "$W/ctx/rootfs/bin/sh"
tar -C "$W/ctx/rootfs" -cf "$W/rootfs.tar" .
$B import "$W/rootfs.tar" "$NAME:base" >/dev/null
python3 - "$W/ctx/data" <<'PY'
import os, random, sys
rng = random.Random(17)
out = sys.argv[1]
words = b"berth layer image archive docker data line\n".split(b" ")
for i in range(2000):
    n = 32 << 10
    b = rng.randbytes(n) if i % 2 else b" ".join(rng.choice(words) for _ in range(n // 6))[:n]
    with open(f"{out}/f{i:04}", "wb") as f:
        f.write(b)
PY
printf 'FROM %s:base\nCOPY data /data\nCMD ["sh"]\n' "$NAME" > "$W/ctx/Dockerfile"
$B build -q -t "$NAME:big" "$W/ctx" >/dev/null
$B save -o "$W/seed.tar" "$NAME:big"
docker load -i "$W/seed.tar" >/dev/null
docker save -o "$W/docker.tar" "$NAME:big"

declare -A CMD PREP
CMD[berth-save]="$B save -o $W/berth.tar $NAME:big"; PREP[berth-save]="rm -f $W/berth.tar"
CMD[docker-save]="docker save -o $W/d2.tar $NAME:big"; PREP[docker-save]="rm -f $W/d2.tar"
CMD[berth-load]="$W/berth --root $W/root2 load -i $W/docker.tar"; PREP[berth-load]="rm -rf $W/root2"
CMD[docker-load]="docker load -i $W/docker.tar"; PREP[docker-load]="docker rmi $NAME:big >/dev/null"
ORDER="berth-save docker-save berth-load docker-load"
: > "$W/times"
for r in $(seq "$RUNS"); do
	for k in $ORDER; do
		eval "${PREP[$k]}"
		sync
		/usr/bin/time -o "$W/t1" -f "%e %U %S" sh -c "{ ${CMD[$k]}; } >/dev/null"
		echo "$k $(cat "$W/t1")" >> "$W/times"
		echo "round $r: $k $(cat "$W/t1")" >&2
	done
done
echo
echo "berth vs the Docker Engine $(docker version --format '{{.Server.Version}}') — $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), $RUNS interleaved runs"
echo "image: busybox + 64 MiB in 2,000 files; docker's archive $(( $(stat -c %s "$W/docker.tar") / 1048576 )) MiB"
python3 - "$W/times" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    k, e, u, s = line.split()
    rows.setdefault(k, []).append((float(e), float(u) + float(s)))
med = {k: statistics.median(x[0] for x in v) for k, v in rows.items()}
print(f"{'command':<13}{'median s':>9}{'min s':>7}{'max s':>7}{'client cpu s':>13}{'vs docker':>10}")
for k in ["berth-save", "docker-save", "berth-load", "docker-load"]:
    v = rows[k]
    peer = "docker-" + k.split("-")[1]
    vs = f"{med[k]/med[peer]:.2f}x" if k.startswith("berth") else ""
    print(f"{k:<13}{med[k]:>9.2f}{min(x[0] for x in v):>7.2f}{max(x[0] for x in v):>7.2f}{statistics.median(x[1] for x in v):>13.2f}{vs:>10}")
PY
