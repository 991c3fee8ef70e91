#!/usr/bin/env bash
# Assembling rootfs.tar from ~30 local images (~300 MiB, cut from /usr/lib) versus `tar -cf` of
# the extracted result, side by side in one run, plus the assembler's peak RSS.
#   bench/rootfs.sh [MiB] [images] [gzip|none] [runs]
set -euo pipefail
MIB=${1:-300}; N=${2:-30}; COMP=${3:-gzip}; RUNS=${4:-3}
: "${CARGO_TARGET_DIR:=$(pwd)/target}"
export CARGO_TARGET_DIR
cargo build -q --release -p evebuild-linuxkit --example rootfs_bench
BIN=$CARGO_TARGET_DIR/release/examples/rootfs_bench
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
"$BIN" make "$W/store" "$MIB" "$N" "$COMP" /usr/lib "$W/bench.yml"
"$BIN" assemble "$W/store" "$W/bench.yml" "$W/warm.tar"     # warm the page cache
mkdir "$W/x"; bsdtar -xpf "$W/warm.tar" -C "$W/x"
best() { sort -n | head -1; }
for i in $(seq "$RUNS"); do
  s=$(date +%s.%N); "$BIN" assemble "$W/store" "$W/bench.yml" "$W/rootfs.tar" 2>/dev/null; e=$(date +%s.%N)
  echo "$e - $s" | bc >> "$W/ours"
  s=$(date +%s.%N); tar -cf "$W/ref.tar" -C "$W/x" .; e=$(date +%s.%N)
  echo "$e - $s" | bc >> "$W/ref"
  rm -f "$W/rootfs.tar" "$W/ref.tar"
done
OURS=$(best < "$W/ours"); REF=$(best < "$W/ref")
RSS=$( { /usr/bin/time -v "$BIN" assemble "$W/store" "$W/bench.yml" "$W/rootfs.tar" 2>&1 >/dev/null; } | awk -F': ' '/Maximum resident/ {print $2}')
echo "layers: $COMP; assemble best ${OURS}s; tar -cf best ${REF}s; ratio $(echo "scale=2; $OURS / $REF" | bc); peak RSS ${RSS} KiB; rootfs.tar $(du -m "$W/rootfs.tar" | cut -f1) MiB"
