#!/usr/bin/env bash
# config.img (5 MiB FAT12, label EVE) from a conf/ directory: evebuild's FAT writer against
# EVE's make-config (mkfs.vfat + mcopy -s), side by side with hyperfine.
# Usage: bench/fat-config-img.sh [conf-dir]   (default: examples/hello-eve/conf if present)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/work/target}
cargo build -q --release -p evebuild-fat --example dir2fat
bin=$CARGO_TARGET_DIR/release/examples/dir2fat
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
conf=${1:-}
if [ -z "$conf" ]; then
  conf=$work/conf
  mkdir -p "$conf/DevicePortConfig"
  echo '{"Version": 1}' > "$conf/DevicePortConfig/override.json.template"
  head -c 1200 /dev/urandom | base64 > "$conf/onboard.cert.pem"
  head -c 1700 /dev/urandom | base64 > "$conf/onboard.key.pem"
  head -c 1200 /dev/urandom | base64 > "$conf/root-certificate.pem"
  echo zedcloud.alpha.zededa.net > "$conf/server"
  echo 'set_global x y' > "$conf/grub.cfg.tmpl"
fi
export SOURCE_DATE_EPOCH=1700000000 MTOOLS_SKIP_CHECK=1
hyperfine -N -w 3 -r 30 \
  -n evebuild "$bin $conf $work/ours.img 5120 EVE" \
  -n mkfs.vfat+mcopy "bash -c 'rm -f $work/ref.img; mkfs.vfat -n EVE -C $work/ref.img 5120 >/dev/null && mcopy -i $work/ref.img -s $conf/* ::/'"
