#!/usr/bin/env bash
# installer.iso-shaped ISO from one tree: evebuild's ISO writer (crates/iso, example dir2iso)
# against make-efi's xorriso command, side by side with hyperfine. The tree is make-efi's:
# EFI/BOOT (a 4 MiB loader), boot/ (a 12 MiB kernel, .uuid, .boot_repository),
# etc/eve-release and a rootfs_installer.img of ROOTFS_MIB (default 512) random MiB; the
# El Torito image is mkfs.vfat + mcopy of EFI/BOOT, as make-efi makes it.
# Usage: bench/iso.sh [ROOTFS_MIB]
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/work/target}
cargo build -q --release -p evebuild-iso --example dir2iso
bin=$CARGO_TARGET_DIR/release/examples/dir2iso
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
t=$work/tree
mkdir -p "$t/EFI/BOOT" "$t/boot" "$t/etc"
head -c $((4 << 20)) /dev/urandom > "$t/EFI/BOOT/BOOTX64.EFI"
echo 'configfile /EFI/BOOT/rootfs.cfg' > "$t/EFI/BOOT/grub.cfg"
head -c $((12 << 20)) /dev/urandom > "$t/boot/kernel"
echo 'console=ttyS0' > "$t/boot/cmdline"
touch "$t/boot/.boot_repository"
od -An -x -N 16 /dev/urandom | tr -d ' ' > "$t/boot/.uuid"
echo 0.0.0-bench-kvm-amd64 > "$t/etc/eve-release"
head -c $((${1:-512} << 20)) /dev/urandom > "$t/rootfs_installer.img"
kib=$(( ($(stat -c %s "$t"/EFI/BOOT/BOOT*EFI) / 1024 + 511) / 32 * 32 ))
mkfs.vfat -C "$work/boot.img" "$kib" >/dev/null
MTOOLS_SKIP_CHECK=1 mmd -i "$work/boot.img" ::/EFI ::/EFI/BOOT
MTOOLS_SKIP_CHECK=1 mcopy -i "$work/boot.img" "$t"/EFI/BOOT/* ::/EFI/BOOT/
# xorriso takes boot.img from inside the tree and hides it; dir2iso takes it from outside.
cp "$work/boot.img" "$t/boot.img"
export SOURCE_DATE_EPOCH=1700000000
sync
hyperfine -N -w 1 -r 5 \
  -n evebuild-iso "bash -c 'mv $t/boot.img $work/b.img; $bin $t $work/ours.iso EVEISO --efi-boot $work/b.img 2>/dev/null; mv $work/b.img $t/boot.img'" \
  -n xorriso "xorriso -as mkisofs -quiet -m 'rootfs-*' -R -e boot.img -hide boot.img -hide boot.catalog -no-emul-boot -V EVEISO -o $work/ref.iso $t"
ls -l "$work/ours.iso" "$work/ref.iso"
