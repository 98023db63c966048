#!/usr/bin/env bash
# The whole test suite: installs what the tests need when it is missing, then
# vets and runs every Go test with the race detector. .ci/run calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the tests use as real peers or inputs.
pkgs=(busybox-static skopeo umoci docker-registry buildah wrk apache2-utils uidmap tmux bzip2 rpm git openssh-client binutils docker.io python3-docker docker-compose chromium zsh fish bash-completion)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
	echo "installing: ${missing[*]}"
	SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# SeaweedFS, the S3-compatible object store the registry's S3 tests run on: its
# weed binary is built once from test/seaweedfs (a module of its own, pinned
# there) into the user's cache; a failed build fails the run.
weed_ver=$(sed -n 's/^[[:space:]]*github.com\/seaweedfs\/seaweedfs \(v[^ ]*\).*/\1/p' test/seaweedfs/go.mod | head -1)
weed="${XDG_CACHE_HOME:-$HOME/.cache}/berth/weed-$weed_ver"
if [ ! -x "$weed" ]; then
	echo "building SeaweedFS $weed_ver into $weed (once; a few minutes)"
	mkdir -p "$(dirname "$weed")"
	(cd test/seaweedfs && GOWORK=off GOFLAGS=-mod=readonly go build -trimpath -ldflags=-s -o "$weed.$$" github.com/seaweedfs/seaweedfs/weed)
	mv "$weed.$$" "$weed"
fi

export BERTH_REQUIRE_PEERS=1 # a missing peer fails the tests instead of skipping them
test -z "$(gofmt -l cmd internal)" || { echo "gofmt needed:"; gofmt -l cmd internal; exit 1; }
go vet ./...
go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...
go test -race -count=1 -timeout 45m ./...
