#!/usr/bin/env bash
# bench/archive.sh — berth save/load against skopeo copy and sha256sum, on the
# same deterministic 1 GiB image, in the same run.
#
# The image: 8 uncompressed layers, 1 GiB in all — 20k small files,
# incompressible data (seeded PRNG) and compressible text. It is generated
# once into $BENCH_DIR (default /var/tmp/berth-bench-archive) and reused.
#
#   save:  berth save -o FILE IMAGE          vs  skopeo copy oci:LAYOUT docker-archive:FILE
#   load:  berth load -i FILE (fresh store)  vs  skopeo copy docker-archive:FILE oci:DIR
#   hash:  sha256sum of the 8 layer files (the bytes every tool must read)
#
# Times are medians of $RUNS interleaved runs (warm page cache), each timed
# by /usr/bin/time, which also gives peak RSS and CPU time (user+sys). On a
# shared machine wall times swing with the other tenants; CPU time does not.
# Usage: bench/archive.sh            (RUNS=3 by default; KEEP=1 keeps outputs)
set -euo pipefail
cd "$(dirname "$0")/.."
W=${BENCH_DIR:-/var/tmp/berth-bench-archive}
RUNS=${RUNS:-3}
mkdir -p "$W"
for t in skopeo python3 /usr/bin/time; do
	command -v "$t" >/dev/null || { echo "bench/archive.sh needs $t" >&2; exit 1; }
done

echo "building berth" >&2
go build -o "$W/berth" ./cmd/berth
B=$W/berth

if [ ! -f "$W/layout/index.json" ]; then
	echo "generating the 1 GiB image in $W/layout (once)" >&2
	rm -rf "$W/layout"
	python3 - "$W/layout" <<'PY'
import hashlib, io, json, os, random, sys, tarfile

out = sys.argv[1]
os.makedirs(f"{out}/blobs/sha256")
MTIME = 1700000000
MiB = 1 << 20

def text(rng, n):
    words = [b"berth", b"layer", b"image", b"archive", b"compressible", b"data", b"line", b"\n"]
    parts, size = [], 0
    while size < n:
        w = words[rng.randrange(len(words))] + b" "
        parts.append(w); size += len(w)
    return b"".join(parts)[:n]

class Gen(io.RawIOBase):
    """A file of n bytes produced in chunks: random, text or zeros."""
    def __init__(self, rng, n, kind):
        self.rng, self.left, self.kind = rng, n, kind
        self.buf = b""
        self.pattern = text(random.Random(7), 4 * MiB) if kind == "text" else None
    def readable(self): return True
    def readinto(self, b):
        if not self.buf:
            if self.left == 0: return 0
            k = min(self.left, 4 * MiB)
            if self.kind == "random": self.buf = self.rng.randbytes(k)
            elif self.kind == "zeros": self.buf = bytes(k)
            else: self.buf = self.pattern[:k]
            self.left -= k
        n = min(len(b), len(self.buf))
        b[:n] = self.buf[:n]; self.buf = self.buf[n:]
        return n

def info(name, size=0, dir=False):
    ti = tarfile.TarInfo(name)
    ti.mtime, ti.uid, ti.gid, ti.uname, ti.gname = MTIME, 0, 0, "", ""
    if dir: ti.type, ti.mode = tarfile.DIRTYPE, 0o755
    else: ti.size, ti.mode = size, 0o644
    return ti

def small_files(tf, rng, prefix, count):
    for d in range(count // 100):
        tf.addfile(info(f"{prefix}/d{d:03d}", dir=True))
        for f in range(100):
            body = text(rng, rng.randrange(512, 8192))
            tf.addfile(info(f"{prefix}/d{d:03d}/f{f:03d}.txt", len(body)), io.BytesIO(body))

def big(tf, rng, name, n, kind):
    tf.addfile(info(name, n), io.BufferedReader(Gen(rng, n, kind), 1 << 20))

layers = [
    lambda tf, r: small_files(tf, r, "usr/share/small", 20000),
    lambda tf, r: big(tf, r, "data/random-1.bin", 192 * MiB, "random"),
    lambda tf, r: big(tf, r, "data/random-2.bin", 192 * MiB, "random"),
    lambda tf, r: big(tf, r, "data/random-3.bin", 160 * MiB, "random"),
    lambda tf, r: big(tf, r, "data/text-1.txt", 128 * MiB, "text"),
    lambda tf, r: (big(tf, r, "data/zeros.bin", 64 * MiB, "zeros"), big(tf, r, "data/text-2.txt", 64 * MiB, "text")),
    lambda tf, r: (big(tf, r, "data/random-4.bin", 64 * MiB, "random"), big(tf, r, "data/text-3.txt", 64 * MiB, "text")),
    lambda tf, r: (big(tf, r, "data/random-5.bin", 8 * MiB, "random"), small_files(tf, r, "etc/small", 1000)),
]
descs, diffs = [], []
for i, build in enumerate(layers):
    tmp = f"{out}/layer.tmp"
    with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tf:
        build(tf, random.Random(i))
    h = hashlib.sha256()
    with open(tmp, "rb") as f:
        for chunk in iter(lambda: f.read(4 * MiB), b""): h.update(chunk)
    d = "sha256:" + h.hexdigest()
    size = os.path.getsize(tmp)
    os.rename(tmp, f"{out}/blobs/sha256/{h.hexdigest()}")
    descs.append({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d, "size": size})
    diffs.append(d)
    print(f"layer {i+1}: {size/MiB:.0f} MiB {d}", file=sys.stderr)

def blob(obj):
    b = json.dumps(obj, separators=(",", ":")).encode()
    h = hashlib.sha256(b).hexdigest()
    open(f"{out}/blobs/sha256/{h}", "wb").write(b)
    return {"digest": "sha256:" + h, "size": len(b)}

cfg = blob({"architecture": "amd64", "os": "linux", "created": "2023-11-14T22:13:20Z",
            "config": {"Cmd": ["/bin/sh"]}, "rootfs": {"type": "layers", "diff_ids": diffs},
            "history": [{"created": "2023-11-14T22:13:20Z", "created_by": f"layer {i+1}"} for i in range(len(diffs))]})
man = blob({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": dict(cfg, mediaType="application/vnd.oci.image.config.v1+json"), "layers": descs})
json.dump({"schemaVersion": 2, "manifests": [dict(man, mediaType="application/vnd.oci.image.manifest.v1+json",
           annotations={"org.opencontainers.image.ref.name": "latest"})]}, open(f"{out}/index.json", "w"))
open(f"{out}/oci-layout", "w").write('{"imageLayoutVersion":"1.0.0"}')
PY
fi
LAYERS=$(python3 -c '
import json,sys
d=sys.argv[1]; m=json.load(open(d+"/index.json"))["manifests"][0]["digest"].split(":")[1]
print(" ".join(d+"/blobs/sha256/"+l["digest"].split(":")[1] for l in json.load(open(d+"/blobs/sha256/"+m))["layers"]))' "$W/layout")
BYTES=$(du -cb $LAYERS | tail -1 | cut -f1)
echo "image: $(( BYTES / 1048576 )) MiB in 8 layers" >&2

# berth's store starts from the OCI layout, packed as an oci-archive.
if [ ! -f "$W/oci.tar" ]; then tar -C "$W/layout" -cf "$W/oci.tar" .; fi
# Its index names the image by tag only ("latest"), so it loads unnamed and
# is saved by ID.
rm -rf "$W/root"
IMG=$("$B" --root "$W/root" load -i "$W/oci.tar" | sed -n 's/^Loaded image ID: //p')
[ -n "$IMG" ] || { echo "loading $W/oci.tar failed" >&2; exit 1; }

declare -A CMD PREP
CMD[sha256]="sha256sum $LAYERS"; PREP[sha256]=":"
CMD[berth-save]="$B --root $W/root save -o $W/berth.tar $IMG"; PREP[berth-save]="rm -f $W/berth.tar"
CMD[berth-save-stdout]="$B --root $W/root save $IMG > $W/berth.tar"; PREP[berth-save-stdout]="rm -f $W/berth.tar"
CMD[skopeo-save]="skopeo copy -q oci:$W/layout:latest docker-archive:$W/skopeo.tar:bench:latest"; PREP[skopeo-save]="rm -f $W/skopeo.tar"
# berth save -o and berth load fsync what they write (atomic, durable
# files); skopeo does not. These rows add the same fsync to skopeo's work.
CMD[skopeo-save+sync]="${CMD[skopeo-save]} && sync $W/skopeo.tar"; PREP[skopeo-save+sync]="${PREP[skopeo-save]}"
CMD[berth-load]="$B --root $W/root2 load -i $W/berth.tar"; PREP[berth-load]="rm -rf $W/root2"
CMD[berth-load-stdin]="$B --root $W/root2 load < $W/berth.tar"; PREP[berth-load-stdin]="rm -rf $W/root2"
# skopeo would gzip every layer for an oci: destination; berth stores what it
# reads, so skopeo is asked to do the same.
CMD[skopeo-load]="skopeo copy -q --dest-oci-accept-uncompressed-layers docker-archive:$W/skopeo.tar oci:$W/skopeo-oci:latest"; PREP[skopeo-load]="rm -rf $W/skopeo-oci"
CMD[skopeo-load+sync]="${CMD[skopeo-load]} && sync $W/skopeo-oci/blobs/sha256/* $W/skopeo-oci/index.json"; PREP[skopeo-load+sync]="${PREP[skopeo-load]}"
ORDER="sha256 berth-save berth-save-stdout skopeo-save skopeo-save+sync berth-load berth-load-stdin skopeo-load skopeo-load+sync"

# Runs are interleaved (one of each command per round) so that the load of
# a shared machine hits every command alike. Each run is timed by
# /usr/bin/time, which also gives its peak RSS.
: > "$W/times"
for r in $(seq "$RUNS"); do
	for k in $ORDER; do
		eval "${PREP[$k]}"
		sync
		/usr/bin/time -o "$W/t1" -f "%e %M %U %S" sh -c "{ ${CMD[$k]}; } >/dev/null"
		echo "$k $(cat "$W/t1")" >> "$W/times"
		echo "round $r: $k $(cat "$W/t1")" >&2
	done
done

echo
echo "berth save/load vs skopeo copy vs sha256sum — $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), load average $(cut -d' ' -f1-3 /proc/loadavg), ${RUNS} interleaved runs, warm page cache"
echo "image: $(( BYTES / 1048576 )) MiB in 8 uncompressed layers (20k small files, seeded random data, text)"
python3 - "$W/times" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    k, e, m, u, s = line.split()
    rows.setdefault(k, []).append((float(e), int(m), float(u) + float(s)))
med = {k: statistics.median(x[0] for x in v) for k, v in rows.items()}
print(f"{'command':<19}{'median s':>9}{'min s':>7}{'max s':>7}{'cpu s':>7}{'peak RSS MiB':>13}{'vs skopeo':>10}{'vs +sync':>9}{'vs sha256':>10}{'cpu vs skopeo':>14}")
cpu = {k: statistics.median(x[2] for x in v) for k, v in rows.items()}
synced = {"berth-save": "skopeo-save+sync", "berth-load": "skopeo-load+sync", "berth-load-stdin": "skopeo-load+sync"}
peers = {"berth-save": "skopeo-save", "berth-save-stdout": "skopeo-save", "berth-load": "skopeo-load", "berth-load-stdin": "skopeo-load"}
for k in ["sha256", "berth-save", "berth-save-stdout", "skopeo-save", "skopeo-save+sync", "berth-load", "berth-load-stdin", "skopeo-load", "skopeo-load+sync"]:
    v = rows[k]
    vs = f"{med[k]/med[peers[k]]:.2f}x" if k in peers else ""
    vh = f"{med[k]/med['sha256']:.2f}x" if k != "sha256" else ""
    vsync = f"{med[k]/med[synced[k]]:.2f}x" if k in synced else ""
    vcpu = f"{cpu[k]/cpu[peers[k]]:.2f}x" if k in peers else ""
    print(f"{k:<19}{med[k]:>9.2f}{min(x[0] for x in v):>7.2f}{max(x[0] for x in v):>7.2f}"
          f"{statistics.median(x[2] for x in v):>7.2f}{max(x[1] for x in v)/1024:>13.1f}{vs:>10}{vsync:>9}{vh:>10}{vcpu:>14}")
PY
if [ -z "${KEEP:-}" ]; then rm -rf "$W/root2" "$W/skopeo-oci" "$W/skopeo.tar" "$W/berth.tar"; fi
