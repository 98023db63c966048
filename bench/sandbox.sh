#!/bin/sh
# bench/sandbox.sh — RUN step cost, berth's sandbox side by side with
# `buildah bud --isolation chroot` (and `buildah run`) on the same step over
# the same busybox base. Needs root, hyperfine, buildah, busybox-static.
#
#   sh bench/sandbox.sh            # default: 10 runs of `true`, 3 of the file step
#   RUNS_TRUE=20 RUNS_FILES=5 sh bench/sandbox.sh
set -eu
RUNS_TRUE=${RUNS_TRUE:-10}
RUNS_FILES=${RUNS_FILES:-3}
here=$(cd "$(dirname "$0")/.." && pwd)
W=$(mktemp -d /tmp/berth-bench-sandbox-XXXXXX)
B="--root $W/storage --runroot $W/runroot --storage-driver overlay"
cleanup() {
	buildah $B rm -a >/dev/null 2>&1 || true
	buildah $B rmi -a -f >/dev/null 2>&1 || true
	grep -o " $W/[^ ]*" /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
	rm -rf "$W"
}
trap cleanup EXIT INT TERM

echo "building berth..." >&2
(cd "$here" && go build -o "$W/berth" ./cmd/berth)
BERTH=$W/berth

# The base root filesystem: static busybox with its applet links.
R=$W/rootfs
mkdir -p "$R/bin" "$R/etc" "$R/tmp" "$R/root"
cp /bin/busybox "$R/bin/busybox"
for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -s busybox "$R/bin/$a"; done
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$R/etc/passwd"
printf 'root:x:0:\n' >"$R/etc/group"
chmod 1777 "$R/tmp"
tar -C "$R" -cf "$W/base.tar" .

# berth: unpack the base once into a snapshot dir (what a build reuses).
"$BERTH" sandbox-exec --snapshots "$W/snap" --base "$W/base.tar" -- /bin/true
LOWER=$(find "$W/snap/sha256" -mindepth 1 -maxdepth 1 -type d)

# buildah: the same tree as an image, and a working container for `run`.
ctr=$(buildah $B from scratch)
buildah $B copy "$ctr" "$R" / >/dev/null
buildah $B commit -q "$ctr" bench-base >/dev/null
buildah $B rm "$ctr" >/dev/null
runctr=$(buildah $B from bench-base)

FILES='mkdir /data && cd /data && i=0 && while [ $i -lt 2000 ]; do i=$((i+1)); echo $i > f$i; done && dd if=/dev/zero of=/data/big bs=1M count=50 2>/dev/null'
mkdir -p "$W/ctx"
printf 'FROM bench-base\nRUN true\n' >"$W/ctx/Dockerfile.true"
printf 'FROM bench-base\nRUN %s\n' "$FILES" >"$W/ctx/Dockerfile.files"

echo "## RUN true ($(date -u +%FT%TZ), $(nproc) cores, $(uname -r))"
hyperfine -N -w 2 -r "$RUNS_TRUE" --style basic --export-json "$W/true.json" \
	-n "berth sandbox RUN true" "$BERTH sandbox-exec --lower $LOWER --layer $W/layer.tar -- /bin/true" \
	-n "berth sandbox RUN true, seccomp=unconfined" "$BERTH sandbox-exec --security-opt seccomp=unconfined --lower $LOWER --layer $W/layer.tar -- /bin/true" \
	-n "buildah run --isolation chroot true" "buildah $B run --isolation chroot $runctr true" \
	-n "buildah bud --isolation chroot (FROM + RUN true)" "buildah $B bud --isolation chroot --layers=false -q -t bench-true -f $W/ctx/Dockerfile.true $W/ctx"

# The seccomp filter's cost is a fraction of a millisecond: compare it in
# interleaved pairs, which the load's drift affects equally.
echo "## interleaved pairs, RUN true with and without the seccomp filter (ms)"
i=0
: >"$W/pairs.txt"
while [ $i -lt "$RUNS_TRUE" ]; do
	i=$((i + 1))
	s=$(date +%s%N)
	"$BERTH" sandbox-exec --lower "$LOWER" --layer "$W/layer.tar" -- /bin/true
	m=$(date +%s%N)
	"$BERTH" sandbox-exec --security-opt seccomp=unconfined --lower "$LOWER" --layer "$W/layer.tar" -- /bin/true
	e=$(date +%s%N)
	echo "$(((m - s) / 1000)) $(((e - m) / 1000))" >>"$W/pairs.txt"
done
python3 -c 'import statistics,sys
p=[tuple(map(int,l.split())) for l in open(sys.argv[1])]
f=statistics.median(a for a,_ in p)/1e3; u=statistics.median(b for _,b in p)/1e3
print("filtered median %.1f ms, unconfined median %.1f ms, difference %.2f ms (%d pairs)" % (f, u, f-u, len(p)))' "$W/pairs.txt"

echo "## RUN: 2,000 files + a 50 MiB file, layer written"
hyperfine -w 1 -r "$RUNS_FILES" --style basic --export-json "$W/files.json" \
	-n "berth sandbox RUN files (+layer tar)" "$BERTH sandbox-exec --lower $LOWER --layer $W/layer.tar -- /bin/sh -c '$FILES'" \
	-n "buildah bud --isolation chroot RUN files" "buildah $B bud --isolation chroot --layers=false -q -t bench-files -f $W/ctx/Dockerfile.files $W/ctx"
ls -l "$W/layer.tar" >&2

# Interleaved pairs: on a shared machine the load drifts during hyperfine's
# back-to-back batches; alternating the two commands compares like with like.
echo "## interleaved pairs, RUN files (ms)"
ms() { echo $(($(date +%s%N) / 1000000)); }
i=0
while [ $i -lt "$RUNS_FILES" ]; do
	i=$((i + 1))
	s=$(ms)
	"$BERTH" sandbox-exec --lower "$LOWER" --layer "$W/layer.tar" -- /bin/sh -c "$FILES"
	m=$(ms)
	buildah $B bud --isolation chroot --layers=false -q -t bench-files -f "$W/ctx/Dockerfile.files" "$W/ctx" >/dev/null
	e=$(ms)
	echo "pair $i: berth $((m - s))  buildah bud $((e - m))"
done

# Medians side by side (hyperfine prints means; the machine is shared).
echo "## medians"
for f in "$W/true.json" "$W/files.json"; do
	python3 -c 'import json,sys
r=json.load(open(sys.argv[1]))["results"]
base=r[0]["median"]
for x in r: print("%-50s median %8.1f ms  min %8.1f ms  x%.2f vs berth" % (x["command"], x["median"]*1e3, x["min"]*1e3, x["median"]/base))' "$f"
done
