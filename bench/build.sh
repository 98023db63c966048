#!/bin/sh
# bench/build.sh: berth build vs buildah bud on the reference multi-stage
# Dockerfile (issue 5): cold build, no-change rebuild, one-file-change rebuild.
# Both builders start from the same busybox-static base, in the same run.
# Usage: bench/build.sh [runs]   (needs root, buildah, busybox-static)
set -eu
RUNS=${1:-3}
HERE=$(cd "$(dirname "$0")/.." && pwd)
W=$(mktemp -d /var/tmp/berth-bench-XXXXXX)
trap 'cleanup' EXIT
cleanup() {
  [ -n "${BH:-}" ] && { $BH rm --all >/dev/null 2>&1; $BH rmi --all --force >/dev/null 2>&1; umount "$W/buildah-root/overlay" 2>/dev/null; } || true
  rm -rf "$W"
}
BERTH=$W/berth
(cd "$HERE" && go build -o "$BERTH" ./cmd/berth)

# Base image: a root filesystem holding busybox-static.
mkdir -p "$W/rootfs/bin" "$W/rootfs/etc" "$W/rootfs/tmp"
cp /bin/busybox "$W/rootfs/bin/"
for l in sh mkdir seq dd touch cat; do ln -s busybox "$W/rootfs/bin/$l"; done
echo 'root:x:0:0:root:/root:/bin/sh' > "$W/rootfs/etc/passwd"
tar -C "$W/rootfs" -cf "$W/rootfs.tar" .

export BERTH_ROOT=$W/berth-root
"$BERTH" import "$W/rootfs.tar" bench-base:latest >/dev/null
# buildah with its default (overlay) driver: vfs copies whole root
# filesystems per container and would make buildah look far slower.
BH="buildah --root $W/buildah-root --runroot $W/buildah-run --storage-driver overlay"
c=$($BH from scratch)
$BH add "$c" "$W/rootfs.tar" / >/dev/null
$BH commit -q "$c" bench-base:latest >/dev/null
$BH rm "$c" >/dev/null

mkdir -p "$W/ctx/src"
for i in $(seq 1 20); do echo "package main // $i" > "$W/ctx/src/f$i.go"; done
cat > "$W/ctx/Dockerfile" <<'EOF'
FROM bench-base:latest AS gen
RUN mkdir -p /data/files && cd /data/files && for i in $(seq 1 2000); do echo "file $i" > f$i; done && dd if=/dev/zero of=/data/big bs=1M count=50 2>/dev/null
COPY src/ /src/
RUN cat /src/*.go > /data/all.go

FROM bench-base:latest
COPY --from=gen /data /data
ENV APP_ENV=production
WORKDIR /app
LABEL org.example.bench=build
EXPOSE 8080
CMD ["cat", "/data/all.go"]
EOF

now() { date +%s%N; }
ms() { echo $(( ($2 - $1) / 1000000 )); }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

run_berth() { "$BERTH" build -q -t bench:latest "$@" "$W/ctx" >/dev/null; }
run_buildah() { $BH bud --isolation chroot --layers -q -t bench:latest "$@" "$W/ctx" >/dev/null 2>&1; }

measure() { # name cmd...; prints ms
  s=$(now); "$@"; e=$(now); ms "$s" "$e"
}

for tool in berth buildah; do
  : > "$W/$tool.cold"; : > "$W/$tool.nochange"; : > "$W/$tool.onefile"
done
for r in $(seq 1 "$RUNS"); do
  # cold: empty caches
  rm -rf "$BERTH_ROOT/build"; "$BERTH" rmi bench:latest >/dev/null 2>&1 || true
  measure run_berth >> "$W/berth.cold"
  $BH rmi -f bench:latest >/dev/null 2>&1 || true
  $BH rmi --prune >/dev/null 2>&1 || true
  measure run_buildah >> "$W/buildah.cold"
  measure run_berth >> "$W/berth.nochange"
  measure run_buildah >> "$W/buildah.nochange"
  echo "package main // changed $r" > "$W/ctx/src/f7.go"
  measure run_berth >> "$W/berth.onefile"
  echo "package main // changed again $r" > "$W/ctx/src/f7.go"
  measure run_buildah >> "$W/buildah.onefile"
done

printf '%-22s %10s %10s %8s\n' "scenario (median ms)" berth buildah ratio
for s in cold nochange onefile; do
  b=$(median < "$W/berth.$s"); h=$(median < "$W/buildah.$s")
  printf '%-22s %10s %10s %8s\n' "$s" "$b" "$h" "$(awk -v b="$b" -v h="$h" 'BEGIN{printf "%.2fx", b/h}')"
done
echo "runs=$RUNS machine: $(nproc) cores, $(uname -r)"
