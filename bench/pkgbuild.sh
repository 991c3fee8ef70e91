#!/usr/bin/env bash
# 20 COPY-only packages built in-process (evebuild-pkgbuild) vs by buildah from the same
# Dockerfiles, side by side in one run. Prints both times and the ratio.
# Needs: buildah (apt-get install buildah), run as root (buildah vfs + chroot).
set -euo pipefail
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/work/target}
here=$(cd "$(dirname "$0")/.." && pwd)
cargo build -q --release -p evebuild-pkgbuild --example pkgs
bin=$CARGO_TARGET_DIR/release/examples/pkgs
work=$(mktemp -d /tmp/evebuild-bench-XXXXXX | tr 'A-Z' 'a-z'); mkdir -p "$work"
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
repo=$work/repo; mkdir -p "$repo/pkg"; git -C "$repo" init -q
for i in $(seq -w 1 20); do
  p=$repo/pkg/p$i; mkdir -p "$p/files/bin" "$p/files/etc"
  printf 'org: lfedge\nimage: eve-p%s\n' "$i" > "$p/build.yml"
  printf 'FROM scratch AS stage\nCOPY files/ /\nFROM scratch\nCOPY --from=stage / /\nENV PKG=p%s\nCMD ["/bin/tool"]\n' "$i" > "$p/Dockerfile"
  head -c 2000000 /dev/urandom > "$p/files/bin/tool"
  for j in $(seq 1 50); do echo "config $i $j" > "$p/files/etc/f$j"; done
done
git -C "$repo" add -A; git -C "$repo" -c user.name=b -c user.email=b@e commit -qm bench
t0=$(date +%s.%N)
"$bin" "$repo/pkg" "$work/store" --force
t1=$(date +%s.%N)
for i in $(seq -w 1 20); do
  buildah --storage-driver vfs --root "$work/b/root" --runroot "$work/b/run" build -q \
    --isolation chroot --timestamp 0 -f "$repo/pkg/p$i/Dockerfile" -t "p$i" "$repo/pkg/p$i" >/dev/null
done
t2=$(date +%s.%N)
awk -v a="$t0" -v b="$t1" -v c="$t2" 'BEGIN {
  n = b - a; d = c - b;
  printf "native: %.2f s  buildah: %.2f s  ratio: %.1fx\n", n, d, d / n }'
