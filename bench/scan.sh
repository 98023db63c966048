#!/usr/bin/env bash
# Benchmark of berth scan: importing the whole Go vulnerability database,
# scanning an image with this machine's ~735 Debian packages and four real Go
# binaries (skopeo, umoci, docker-registry, buildah) cold (no layer cache)
# and warm (layer inventory cached), and the inventory alone next to
# dpkg-query. Results are printed as a table; nothing is left behind.
# Usage: bench/scan.sh [runs]   (default 5)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export BERTH_ROOT=$work/root

go build -o "$work/berth" ./cmd/berth
berth=$work/berth
osv=$(GOFLAGS=-mod=mod go mod download -json golang.org/x/vulndb@v0.0.0-20261105234957-e22db6528018 | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')/data/osv

# Debian records in osv.dev's shape for every installed source package
# (half of them affecting the installed version), so matching does real work.
mkdir -p "$work/debian"
dpkg-query -W -f '${source:Package}\t${Version}\n' | sort -u | python3 -c '
import json, sys, os
out = sys.argv[1]
for i, line in enumerate(sys.stdin):
    src, ver = line.rstrip("\n").split("\t")
    fixed = ver + ("+zz1" if i % 2 == 0 else "~aa1")
    rec = {"schema_version": "1.6.0", "id": "DEBIAN-CVE-2099-%05d" % i, "modified": "2026-11-01T00:00:00Z",
           "aliases": ["CVE-2099-%05d" % i], "summary": "synthetic advisory for " + src,
           "affected": [{"package": {"ecosystem": "Debian:12", "name": src},
                         "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}]}]}
    json.dump(rec, open(os.path.join(out, rec["id"] + ".json"), "w"))
' "$work/debian"

# The image: os-release, the dpkg database and four Go binaries, gzip'd,
# imported into the store like any root filesystem.
mkdir -p "$work/rootfs/etc" "$work/rootfs/var/lib/dpkg" "$work/rootfs/usr/bin"
cp -L /etc/os-release "$work/rootfs/etc/os-release"
cp /var/lib/dpkg/status "$work/rootfs/var/lib/dpkg/status"
cp /usr/bin/skopeo /usr/bin/umoci /usr/bin/docker-registry /usr/bin/buildah "$work/rootfs/usr/bin/"
tar -C "$work/rootfs" -czf "$work/rootfs.tar.gz" .
"$berth" import "$work/rootfs.tar.gz" bench:1 >/dev/null
pkgs=$(grep -c '^Package:' /var/lib/dpkg/status)

med() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
timeit() { # prints median wall seconds, max RSS MiB and median CPU seconds of "$@" over $runs runs
	local t r u s ts=() rs=() cs=()
	for _ in $(seq "$runs"); do
		/usr/bin/time -f '%e %M %U %S' -o "$work/t" "$@" >/dev/null 2>"$work/err" || { cat "$work/err" >&2; exit 1; }
		read -r t r u s <"$work/t"
		ts+=("$t"); rs+=("$r"); cs+=("$(echo "$u $s" | awk '{print $1+$2}')")
	done
	printf '%s %s %s\n' "$(printf '%s\n' "${ts[@]}" | med)" "$(printf '%s\n' "${rs[@]}" | sort -n | tail -1 | awk '{printf "%.0f", $1/1024}')" "$(printf '%s\n' "${cs[@]}" | med)"
}

rm -f "$BERTH_ROOT/scan/vuln.db"
read -r imp_t imp_r imp_c < <(timeit sh -c "rm -f $BERTH_ROOT/scan/vuln.db && $berth scan db import $osv")
"$berth" scan db import "$work/debian" >/dev/null
records=$("$berth" scan db status | awk '/^Records/ {print $2}')
read -r cold_t cold_r cold_c < <(timeit "$berth" scan --no-cache --format json -o "$work/r.json" bench:1)
"$berth" scan bench:1 >/dev/null # fills the layer cache
read -r warm_t warm_r warm_c < <(timeit "$berth" scan --format json -o "$work/r.json" bench:1)
findings=$(python3 -c 'import json,sys; print(sum(len(r["Vulnerabilities"]) for r in json.load(open(sys.argv[1]))["Results"]))' "$work/r.json")
read -r sbom_t sbom_r sbom_c < <(timeit "$berth" sbom --no-cache --rootfs "$work/rootfs" --format json)
read -r dq_t dq_r dq_c < <(timeit dpkg-query -W)

echo "berth scan benchmark, $(date -u +%Y-%m-%d), $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg), median of $runs runs"
echo "image: $pkgs dpkg packages + 4 Go binaries ($(du -m "$work/rootfs.tar.gz" | cut -f1) MiB gzip); database: $records records; findings: $findings"
printf '%-52s %9s %9s %9s %s\n' "case" "median s" "CPU s" "max RSS" "target"
printf '%-52s %9s %9s %8sM %s\n' "scan db import (Go vulndb, $(ls "$osv" | wc -l) records)" "$imp_t" "$imp_c" "$imp_r" "< 10 s"
printf '%-52s %9s %9s %8sM %s\n' "scan, cold (no layer cache)" "$cold_t" "$cold_c" "$cold_r" "< 2 s, < 300 MiB"
printf '%-52s %9s %9s %8sM %s\n' "scan, warm (layer inventory cached)" "$warm_t" "$warm_c" "$warm_r" "< 0.5 s"
printf '%-52s %9s %9s %8sM %s\n' "sbom --rootfs (inventory only)" "$sbom_t" "$sbom_c" "$sbom_r" ""
printf '%-52s %9s %9s %8sM %s\n' "peer: dpkg-query -W (dpkg database only)" "$dq_t" "$dq_c" "$dq_r" ""
