#!/usr/bin/env bash
# LIVE_UPDATE: rebuilding live.qcow2 after a one-file package change, updated in place
# (`evebuild LIVE_UPDATE=1 live`) against a full rebuild (`evebuild ROOTFS_FORMAT=ext4 live`),
# side by side with hyperfine. Both runs rebuild the changed package and the ext4 rootfs; they
# differ in how live.qcow2 is made. The example gets a bulk payload (default /usr/lib/gcc,
# about 120 MB of real binaries) in its debug container so the rootfs is of a realistic size.
# EVE's own fast path (guestfish tar-in into the mounted partition) is not measured: it needs
# libguestfs and its appliance VM, which this machine does not have (no KVM either).
# Usage: bench/live-update.sh [payload dir]   (EVEBUILD_BIN=<binary> to skip the release build)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/work/target}
if [ -z "${EVEBUILD_BIN:-}" ]; then
  cargo build -q --release -p evebuild-cli
fi
bin=${EVEBUILD_BIN:-$CARGO_TARGET_DIR/release/evebuild}
payload=${1:-/usr/lib/gcc}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export SOURCE_DATE_EPOCH=1700000000 LINUXKIT_CACHE=$work/cache HOME=$work/home
mkdir -p "$HOME"

setup() { # <dir>: a copy of the example with the payload, committed, built once (ext4)
  local d=$1
  mkdir -p "$d"
  cp -r examples/hello-eve/. "$d"
  rm -rf "$d/dist" "$d/images/out"
  mkdir -p "$d/pkg/debug/payload"
  cp -r "$payload/." "$d/pkg/debug/payload/"
  printf 'COPY payload/ /opt/payload/\n' >>"$d/pkg/debug/Dockerfile"
  echo 0 >"$d/pkg/debug/bin/changing"
  git -C "$d" init -q -b master
  git -C "$d" -c user.name=b -c user.email=b@example.com add -A
  git -C "$d" -c user.name=b -c user.email=b@example.com commit -qm bench
  (cd "$d" && "$bin" -q ROOTFS_VERSION=0.0.0-bench ROOTFS_FORMAT=ext4 live >/dev/null)
}
change() { # <dir>: one file of one package changes (a new package tag)
  echo "$RANDOM$RANDOM" >"$1/pkg/debug/bin/changing"
  git -C "$1" -c user.name=b -c user.email=b@example.com add -A
  git -C "$1" -c user.name=b -c user.email=b@example.com commit -qm change
}

setup "$work/update"
setup "$work/full"
img=$work/update/dist/amd64/0.0.0-bench/live.qcow2
echo "payload: $payload ($(du -sh "$payload" | cut -f1)); live.qcow2 $(stat -c %s "$img") bytes"
hyperfine -N -r 5 \
  -n 'LIVE_UPDATE=1 live (in place)' \
  -p "bash -c 'echo \$RANDOM\$RANDOM >$work/update/pkg/debug/bin/changing; git -C $work/update -c user.name=b -c user.email=b@example.com commit -qam c'" \
  "bash -c 'cd $work/update && $bin -q ROOTFS_VERSION=0.0.0-bench LIVE_UPDATE=1 live'" \
  -n 'ROOTFS_FORMAT=ext4 live (full)' \
  -p "bash -c 'echo \$RANDOM\$RANDOM >$work/full/pkg/debug/bin/changing; git -C $work/full -c user.name=b -c user.email=b@example.com commit -qam c'" \
  "bash -c 'cd $work/full && $bin -q ROOTFS_VERSION=0.0.0-bench ROOTFS_FORMAT=ext4 live'"
# The disk step alone: the package and rootfs are rebuilt in the prepare step, so only
# live.qcow2 is timed (updated in place against written in full).
for d in update full; do
  fmt=$([ $d = update ] && echo LIVE_UPDATE=1 || echo ROOTFS_FORMAT=ext4)
  cat >"$work/prep-$d.sh" <<EOF
echo \$RANDOM\$RANDOM >$work/$d/pkg/debug/bin/changing
git -C $work/$d -c user.name=b -c user.email=b@example.com commit -qam c
cd $work/$d && $bin -q ROOTFS_VERSION=0.0.0-bench $fmt rootfs >/dev/null
EOF
done
hyperfine -N -r 5 \
  -n 'live.qcow2 updated in place' -p "bash $work/prep-update.sh" \
  "bash -c 'cd $work/update && $bin -q ROOTFS_VERSION=0.0.0-bench LIVE_UPDATE=1 live'" \
  -n 'live.qcow2 written in full' -p "bash $work/prep-full.sh" \
  "bash -c 'cd $work/full && $bin -q ROOTFS_VERSION=0.0.0-bench ROOTFS_FORMAT=ext4 live'"
change "$work/update"
(cd "$work/update" && "$bin" ROOTFS_VERSION=0.0.0-bench LIVE_UPDATE=1 live 2>&1 | grep -i 'live_update' || true)
echo "after the updates: live.qcow2 $(stat -c %s "$img") bytes; qemu-img check:"
qemu-img check "$img" | tail -2
