#!/usr/bin/env bash
# ext4 rootfs.img from a directory tree: evebuild's writer (stage + mke2fs -d + debugfs
# fix-ups, unprivileged, reproducible) against plain `mkfs.ext4 -d` on a file of the same
# size (which keeps the builder's owners and host times), side by side with hyperfine.
# Usage: bench/ext4-rootfs.sh [tree]   (default: /usr/lib/x86_64-linux-gnu)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/work/target}
cargo build -q --release -p evebuild-ext4 --example dir2ext4
bin=$CARGO_TARGET_DIR/release/examples/dir2ext4
tree=${1:-/usr/lib/x86_64-linux-gnu}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export SOURCE_DATE_EPOCH=1700000000
$bin "$tree" "$work/ours.img"
size=$(stat -c %s "$work/ours.img")
echo "tree: $tree ($(du -sh "$tree" | cut -f1), $(find "$tree" | wc -l) entries); image $size bytes"
hyperfine -N -w 1 -r 5 \
  -n evebuild "$bin $tree $work/ours.img" \
  -n 'mkfs.ext4 -d' "bash -c 'rm -f $work/ref.img; truncate -s $size $work/ref.img; mkfs.ext4 -q -F -b 4096 -L eve_rootfs -d $tree $work/ref.img'"
