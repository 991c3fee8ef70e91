#!/usr/bin/env bash
# Assembling rootfs.tar from ~30 local images (~300 MiB, cut from /usr/lib) versus `tar -cf` of
# the extracted result, side by side in one run, plus the assembler's peak RSS. Compressed layers
# are timed cold (no decompressed-layer cache yet) and warm (cache filled).
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
# Cold: the store's decompressed-layer cache (evebuild/layers) removed first, as on the first
# build after a pull; warm: the cache filled by the run before.
cold() { rm -rf "$W/store/evebuild"; }
best() { sort -n | head -1; }
# Each timed run starts with no dirty pages left by the one before (sync, outside the timing),
# so no run pays for another's writeback.
timed() { local s e; sync; s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N); echo "$e - $s" | bc; }
for i in $(seq "$RUNS"); do
  cold; timed "$BIN" assemble "$W/store" "$W/bench.yml" "$W/rootfs.tar" >> "$W/cold"
  rm -f "$W/rootfs.tar"   # every run writes a new file, as tar -cf does
  timed "$BIN" assemble "$W/store" "$W/bench.yml" "$W/rootfs.tar" >> "$W/ours"
  timed tar -cf "$W/ref.tar" -C "$W/x" . >> "$W/ref"
  rm -f "$W/rootfs.tar" "$W/ref.tar"
done
COLD=$(best < "$W/cold"); OURS=$(best < "$W/ours"); REF=$(best < "$W/ref")
rss() { { /usr/bin/time -v "$BIN" assemble "$W/store" "$W/bench.yml" "$W/rootfs.tar" 2>&1 >/dev/null; } | awk -F': ' '/Maximum resident/ {print $2}'; }
cold; RSS_COLD=$(rss); RSS=$(rss)
echo "layers: $COMP; tar -cf best ${REF}s; assemble warm best ${OURS}s, ratio $(echo "scale=2; $OURS / $REF" | bc), peak RSS ${RSS} KiB; cold best ${COLD}s, ratio $(echo "scale=2; $COLD / $REF" | bc), peak RSS ${RSS_COLD} KiB; rootfs.tar $(du -m "$W/rootfs.tar" | cut -f1) MiB; layer cache $(du -sm "$W/store/evebuild" 2>/dev/null | cut -f1) MiB"
