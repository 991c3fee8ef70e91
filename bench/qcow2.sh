#!/usr/bin/env bash
# Compressed qcow2 of an EVE 17 live disk holding ~300 MB of squashfs: evebuild (straight from
# the partition images, no raw file) against `qemu-img convert -c -O qcow2` + `qemu-img resize`
# from the equivalent raw image (what EVE's Makefile runs). Runs both side by side (at the same
# time, each in its own session so the scheduler treats them alike), RUNS times, and prints the
# median wall and CPU times and their ratios.
#
# Usage: bench/qcow2.sh            (ROOTFS=path/to/squashfs.img to bring your own; RUNS=3)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=bench/out
RUNS=${RUNS:-3}
MEDIA_MIB=32768
mkdir -p "$OUT"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/work/target}

ROOTFS=${ROOTFS:-$OUT/rootfs.img}
if [ ! -s "$ROOTFS" ]; then
  echo "making $ROOTFS with mksquashfs (gzip) from /usr/lib/x86_64-linux-gnu and /usr/lib/llvm-14 ..."
  mksquashfs /usr/lib/x86_64-linux-gnu /usr/lib/llvm-14 "$ROOTFS" -noappend -no-progress -quiet >/dev/null
fi
echo "rootfs: $ROOTFS ($(stat -c %s "$ROOTFS") bytes)"

cargo build -q --release -p evebuild-eve --example eve-image
EVE_IMAGE=$CARGO_TARGET_DIR/release/examples/eve-image

# The raw image qemu-img starts from (not timed; evebuild never writes it).
"$EVE_IMAGE" --preset eve17-live --rootfs "$ROOTFS" --format raw --out "$OUT/live.raw"

t() { # t NAME CMD... : runs CMD in a new session, records "wall cpu" seconds in $OUT/NAME.one
  local name=$1; shift
  setsid /usr/bin/time -f "%e %U %S" -o "$OUT/$name.one" "$@"
}
rm -f "$OUT"/*.times
for i in $(seq "$RUNS"); do
  t qemu sh -c "qemu-img convert -c -f raw -O qcow2 '$OUT/live.raw' '$OUT/qemu.qcow2' && qemu-img resize -q '$OUT/qemu.qcow2' ${MEDIA_MIB}M" &
  t evebuild "$EVE_IMAGE" --preset eve17-live --rootfs "$ROOTFS" --format qcow2 --media-size $MEDIA_MIB --out "$OUT/evebuild.qcow2" &
  wait
  for n in qemu evebuild; do
    awk '{ printf "%s %.2f\n", $1, $2 + $3 }' "$OUT/$n.one" >> "$OUT/$n.times"
  done
done

qemu-img check -q "$OUT/evebuild.qcow2"
qemu-img compare -q -f raw -F qcow2 "$OUT/live.raw" "$OUT/evebuild.qcow2"
qemu-img compare -q -f qcow2 -F qcow2 "$OUT/qemu.qcow2" "$OUT/evebuild.qcow2"

median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
for n in qemu evebuild; do
  echo "$n: wall $(cut -d' ' -f1 "$OUT/$n.times" | tr '\n' ' ')s, cpu $(cut -d' ' -f2 "$OUT/$n.times" | tr '\n' ' ')s, size $(stat -c %s "$OUT/$n.qcow2")"
done
qw=$(cut -d' ' -f1 "$OUT/qemu.times" | median); ew=$(cut -d' ' -f1 "$OUT/evebuild.times" | median)
qc=$(cut -d' ' -f2 "$OUT/qemu.times" | median); ec=$(cut -d' ' -f2 "$OUT/evebuild.times" | median)
echo "median wall: qemu-img ${qw}s, evebuild ${ew}s, ratio $(awk -v a="$ew" -v b="$qw" 'BEGIN { printf "%.2f", a / b }')"
echo "median cpu:  qemu-img ${qc}s, evebuild ${ec}s, ratio $(awk -v a="$ec" -v b="$qc" 'BEGIN { printf "%.2f", a / b }')"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
