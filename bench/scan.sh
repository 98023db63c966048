#!/usr/bin/env bash
# Benchmark of berth scan: the first run on a fresh root (download, import
# and scan against a local mirror of the Go, Debian and npm exports), the
# second scan, a database update that changes nothing, the import of the
# whole Go vulnerability database, scans cold (no layer cache) and warm,
# and the inventory alone next to dpkg-query. The image holds this
# machine's dpkg packages, four real Go binaries (skopeo, umoci,
# docker-registry, buildah) and a few npm packages.
#
# The mirror (internal/scan/scantest/osvmirror) serves the Go export made of
# the real Go vulnerability database (golang.org/x/vulndb from the module
# proxy) with the GitHub advisories its records alias, and Debian and npm
# exports generated in osv.dev's shape (no real ones are reachable
# offline): a DEBIAN-CVE record per installed source package (half affect
# it) and DSAs naming them, padded with records of packages not installed,
# as the real exports are. Results are printed as a table; nothing is left
# behind.
# Usage: bench/scan.sh [runs]   (default 5)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
work=$(mktemp -d)
mirror_pid=
trap '[ -n "$mirror_pid" ] && kill "$mirror_pid" 2>/dev/null; rm -rf "$work"' EXIT
export BERTH_ROOT=$work/root BERTH_CONFIG=$work/config.json

go build -o "$work/berth" ./cmd/berth
go build -o "$work/osvmirror" ./internal/scan/scantest/osvmirror
berth=$work/berth
osv=$(GOFLAGS=-mod=mod go mod download -json golang.org/x/vulndb@v0.0.0-20261105234957-e22db6528018 | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')/data/osv

npm_pkgs="lodash@4.17.15,minimist@1.2.5,express@4.17.1,left-pad@1.3.0,axios@0.21.1"
"$work/osvmirror" -vulndb "$osv" -dpkg-status /var/lib/dpkg/status -npm "$npm_pkgs" \
	-debian-extra 40000 -npm-extra 20000 >"$work/mirror.url" 2>"$work/mirror.log" &
mirror_pid=$!
for _ in $(seq 600); do [ -s "$work/mirror.url" ] && break; sleep 0.1; done
[ -s "$work/mirror.url" ] || { cat "$work/mirror.log" >&2; exit 1; }
export BERTH_SCAN_DB_REPOSITORY=$(cat "$work/mirror.url")

# The image: os-release, the dpkg database, four Go binaries and npm
# packages, gzip'd, imported into the store like any root filesystem.
mkdir -p "$work/rootfs/etc" "$work/rootfs/var/lib/dpkg" "$work/rootfs/usr/bin"
cp -L /etc/os-release "$work/rootfs/etc/os-release"
cp /var/lib/dpkg/status "$work/rootfs/var/lib/dpkg/status"
cp /usr/bin/skopeo /usr/bin/umoci /usr/bin/docker-registry /usr/bin/buildah "$work/rootfs/usr/bin/"
for p in ${npm_pkgs//,/ }; do
	mkdir -p "$work/rootfs/app/node_modules/${p%@*}"
	printf '{"name":"%s","version":"%s"}\n' "${p%@*}" "${p#*@}" >"$work/rootfs/app/node_modules/${p%@*}/package.json"
done
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

# First run: no database, no layer cache. The import rate is the records
# over the import times berth reports per source, median over the runs.
rates=() ft=() fr=() fc=()
for _ in $(seq "$runs"); do
	rm -rf "$BERTH_ROOT/scan"
	/usr/bin/time -f '%e %M %U %S' -o "$work/t" "$berth" scan --format json -o "$work/r.json" bench:1 2>"$work/first.err" || { cat "$work/first.err" >&2; exit 1; }
	read -r t r u s <"$work/t"
	ft+=("$t"); fr+=("$r"); fc+=("$(echo "$u $s" | awk '{print $1+$2}')")
	rates+=("$(awk '/imported [0-9]+ records in/ {for (i=1;i<=NF;i++) if ($i=="imported") {n+=$(i+1); d=$(i+4); if (d ~ /ms$/) {sub(/ms$/,"",d); d/=1000} else sub(/s$/,"",d); t+=d}} END {printf "%.0f", n/t}' "$work/first.err")")
done
first_t=$(printf '%s\n' "${ft[@]}" | med); first_r=$(printf '%s\n' "${fr[@]}" | sort -n | tail -1 | awk '{printf "%.0f", $1/1024}'); first_c=$(printf '%s\n' "${fc[@]}" | med)
rate=$(printf '%s\n' "${rates[@]}" | med)
records=$("$berth" scan db status | awk '/^Records/ {print $2}')
sources=$(grep -c 'Downloaded' "$work/first.err")
findings=$(python3 -c 'import json,sys; print(sum(len(r.get("Vulnerabilities") or []) for r in json.load(open(sys.argv[1]))["Results"]))' "$work/r.json")
unknown=$(python3 -c 'import json,sys; print(sum(1 for r in json.load(open(sys.argv[1]))["Results"] for v in (r.get("Vulnerabilities") or []) if v["Severity"]=="UNKNOWN"))' "$work/r.json")
read -r second_t second_r second_c < <(timeit "$berth" scan --format json -o "$work/r.json" bench:1)
# The CVE records' scores (osv.dev's GIT export, kept as severities only).
"$berth" scan db update GIT >/dev/null 2>&1
"$berth" scan --format json -o "$work/r-git.json" bench:1 2>/dev/null
unknown_git=$(python3 -c 'import json,sys; print(sum(1 for r in json.load(open(sys.argv[1]))["Results"] for v in (r.get("Vulnerabilities") or []) if v["Severity"]=="UNKNOWN"))' "$work/r-git.json")
read -r upd_t upd_r upd_c < <(timeit "$berth" scan db update)

read -r imp_t imp_r imp_c < <(timeit sh -c "rm -f $work/go.db && $berth scan db import --db $work/go.db $osv")
read -r cold_t cold_r cold_c < <(timeit "$berth" scan --no-cache --format json -o "$work/r.json" bench:1)
read -r warm_t warm_r warm_c < <(timeit "$berth" scan --offline --format json -o "$work/r.json" bench:1)
read -r sbom_t sbom_r sbom_c < <(timeit "$berth" sbom --no-cache --rootfs "$work/rootfs" --format json)
read -r dq_t dq_r dq_c < <(timeit dpkg-query -W)

echo "berth scan benchmark, $(date -u +%Y-%m-%d), $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg), median of $runs runs"
echo "image: $pkgs dpkg packages + 4 Go binaries + 5 npm packages ($(du -m "$work/rootfs.tar.gz" | cut -f1) MiB gzip)"
echo "mirror: $(sed 's/^osvmirror: //' "$work/mirror.log" | tr '\n' ';')"
echo "database after the first run: $records records from $sources exports; findings: $findings ($unknown UNKNOWN; $unknown_git after scan db update GIT)"
printf '%-56s %9s %9s %9s %s\n' "case" "median s" "CPU s" "max RSS" "target"
printf '%-56s %9s %9s %8sM %s\n' "first scan: download + import + scan (fresh root)" "$first_t" "$first_c" "$first_r" "< 20 s"
printf '%-56s %9s %9s %9s %s\n' "  import rate (records/s, as berth reports it)" "$rate" "" "" ">= 5000"
printf '%-56s %9s %9s %8sM %s\n' "second scan" "$second_t" "$second_c" "$second_r" "< 0.5 s"
printf '%-56s %9s %9s %8sM %s\n' "scan db update, nothing changed" "$upd_t" "$upd_c" "$upd_r" "< 1 s"
printf '%-56s %9s %9s %8sM %s\n' "scan db import (Go vulndb, $(ls "$osv" | wc -l) records)" "$imp_t" "$imp_c" "$imp_r" "< 10 s"
printf '%-56s %9s %9s %8sM %s\n' "scan, cold (no layer cache)" "$cold_t" "$cold_c" "$cold_r" "< 2 s, < 300 MiB"
printf '%-56s %9s %9s %8sM %s\n' "scan --offline, warm (layer inventory cached)" "$warm_t" "$warm_c" "$warm_r" "< 0.5 s"
printf '%-56s %9s %9s %8sM %s\n' "sbom --rootfs (inventory only)" "$sbom_t" "$sbom_c" "$sbom_r" ""
printf '%-56s %9s %9s %8sM %s\n' "peer: dpkg-query -W (dpkg database only)" "$dq_t" "$dq_c" "$dq_r" ""
