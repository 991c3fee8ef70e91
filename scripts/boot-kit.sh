#!/usr/bin/env bash
# Prepares the boot kit of the bundled example (examples/hello-eve) from Debian packages, so
# that its images boot for real under QEMU/OVMF instead of carrying placeholders:
#
#   pkg/kernel/kit/kernel                the kernel (bzImage) of linux-image-<version>-amd64
#   pkg/kernel/kit/initrd.img            busybox initramfs (../initrd/init): loads the disk
#                                        drivers, finds root= (PARTUUID=, LABEL=, rootimg=),
#                                        mounts it (squashfs, ext4, ISO 9660), switch_root
#   pkg/kernel/kit/kernel.tar            boot/initrd.img, so linuxkit's kernel section puts the
#                                        initramfs into the rootfs next to boot/kernel
#   pkg/grub/kit/EFI/BOOT/BOOTX64.EFI    GRUB 2.06 (grub-efi-amd64-bin) with the modules the
#                                        boot chain needs built in, prefix /EFI/BOOT
#   pkg/grub/kit/EFI/BOOT/BOOT.img       legacy BIOS: GRUB's i386-pc boot.img (grub-pc-bin),
#   pkg/grub/kit/EFI/BOOT/BOOT.pc        and a core.img whose embedded config finds the ESP by
#                                        EVE's fixed GUID and runs its grub.cfg (the stub)
#   pkg/dom0-ztools/kit/bin/busybox, bin/sh   what runs the rootfs /sbin/init
#
# The kit files are untracked and not git-ignored on purpose: linuxkit's tag rule then tags the
# packages `<tree>-dirty-<content hash>`, so a kit build never shares a tag with a placeholder
# build. Output is deterministic: the same .deb files give the same bytes (sorted cpio with
# fixed times, gzip -n, tar --sort=name).
#
# Usage: scripts/boot-kit.sh [--project DIR] [--clean]
#   --project DIR  the EVE-shaped project to equip (default: examples/hello-eve)
#   --clean        remove the kit files again (the example then builds with placeholders)
# Environment:
#   BOOT_KIT_CACHE            where downloaded .deb files are kept
#                             (default: ${XDG_CACHE_HOME:-~/.cache}/evebuild/boot-kit)
#   BOOT_KIT_KERNEL_PACKAGE   kernel package (default: what linux-image-amd64 depends on)
#   SOURCE_DATE_EPOCH         time stamp of generated files (default: the kernel's mtime in
#                             its .deb)
# Needs: apt-get (download only, no install, no root), dpkg-deb, cpio, gzip, tar, awk; the
# network only for apt. Takes ~10 s with the .deb files cached (decompressing the kernel
# package dominates), plus the download (~75 MB) the first time.
set -euo pipefail
umask 022

here=$(cd "$(dirname "$0")" && pwd)
project="$here/../examples/hello-eve"
clean=""
while [ $# -gt 0 ]; do
  case "$1" in
    --project) project="$2"; shift 2 ;;
    --clean) clean=1; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "boot-kit: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
project=$(cd "$project" && pwd)
kernel_kit="$project/pkg/kernel/kit"
grub_kit="$project/pkg/grub/kit"
init_kit="$project/pkg/dom0-ztools/kit"
initrd_init="$project/pkg/kernel/initrd/init"

# The kit's files, relative to the project; --clean removes exactly these.
kit_files=(pkg/kernel/kit/kernel pkg/kernel/kit/initrd.img pkg/kernel/kit/kernel.tar
  pkg/grub/kit/EFI/BOOT/BOOTX64.EFI pkg/grub/kit/EFI/BOOT/BOOT.img pkg/grub/kit/EFI/BOOT/BOOT.pc
  pkg/dom0-ztools/kit/bin/busybox pkg/dom0-ztools/kit/bin/sh)

if [ -n "$clean" ]; then
  for f in "${kit_files[@]}"; do rm -f "$project/$f"; done
  rmdir -p "$grub_kit/EFI/BOOT" "$init_kit/bin" 2>/dev/null || true
  echo "boot-kit: removed the kit from $project (placeholders are used again)"
  exit 0
fi

# GRUB modules built into BOOTX64.EFI. No module directory ships beside it (it runs from the
# ESP and from inside the squashfs rootfs), so everything the stub and grub.cfg use is here:
# partition tables and filesystems to find and read the rootfs (part_gpt part_msdos fat
# squash4 iso9660 ext2), the commands of the ESP stub (probe regexp test chain search
# configfile) and of the rootfs grub.cfg (loadenv cat echo linux), console and power.
grub_modules="part_gpt part_msdos fat squash4 iso9660 ext2 linux normal echo cat configfile
  search search_label search_fs_uuid probe regexp test chain loadenv efi_gop all_video
  serial terminal ls halt reboot sleep"
# The same for legacy BIOS (BOOT.pc), with the BIOS disk driver instead of EFI video. It must
# fit between the GPT and the first partition (sectors 34-2047).
grub_pc_modules="biosdisk part_gpt part_msdos fat squash4 iso9660 ext2 linux normal echo cat
  configfile search probe regexp test loadenv serial terminal ls halt reboot sleep"

# Kernel modules the initramfs carries, in groups it loads as needed (each with its
# dependencies, in load order): the disks (virtio, AHCI, NVMe), the CD drive (for root=LABEL=),
# and each root filesystem (squashfs, ext4, ISO 9660, loop for the installer ISO's rootimg=).
# crc32c_generic is ext4's soft dependency (metadata checksums), which `depends=` omits.
module_groups=(
  "disk virtio_pci virtio_blk ahci sd_mod nvme"
  "cdrom sr_mod"
  "squashfs squashfs"
  "ext4 crc32c_generic ext4"
  "iso9660 isofs"
  "loop loop"
)

cache=${BOOT_KIT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/evebuild/boot-kit}
mkdir -p "$cache"

need() {
  command -v "$1" >/dev/null || { echo "boot-kit: $1 is missing: install the Debian package $2" >&2; exit 1; }
}
need apt-get apt
need dpkg-deb dpkg
need cpio cpio
need gzip gzip

# The candidate version of a package, as apt sees it.
candidate() {
  apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ {print $2; exit}'
}

kernel_pkg=${BOOT_KIT_KERNEL_PACKAGE:-}
if [ -z "$kernel_pkg" ]; then
  kernel_pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
    awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
fi
if [ -z "$kernel_pkg" ]; then
  # Offline with an empty apt list: fall back to the newest kernel already downloaded.
  kernel_pkg=$(ls "$cache" 2>/dev/null | sed -n 's/^\(linux-image-[0-9][^_]*-amd64\)_.*\.deb$/\1/p' | sort -V | tail -n 1)
fi
[ -n "$kernel_pkg" ] || {
  echo "boot-kit: apt knows no linux-image-amd64: run 'apt-get update' (Debian bookworm sources)" >&2
  exit 1
}

# Downloads (once) the candidate .deb of package $1 into the cache and prints its path.
fetch_deb() {
  local pkg=$1 ver file
  ver=$(candidate "$pkg")
  if [ -n "$ver" ] && [ "$ver" != "(none)" ]; then
    file="$cache/${pkg}_$(echo "$ver" | sed 's/:/%3a/')_amd64.deb"
    if [ ! -s "$file" ]; then
      echo "boot-kit: downloading $pkg $ver" >&2
      (cd "$cache" && apt-get download -qq -o APT::Sandbox::User="$(id -un)" "$pkg=$ver" >&2) || {
        echo "boot-kit: apt-get download $pkg=$ver failed (network, or run 'apt-get update')" >&2
        exit 1
      }
    fi
  else
    file=$(ls "$cache/${pkg}"_*_amd64.deb 2>/dev/null | sort -V | tail -n 1 || true)
    [ -n "$file" ] || { echo "boot-kit: apt has no $pkg and none is cached in $cache" >&2; exit 1; }
  fi
  echo "$file"
}

kernel_deb=$(fetch_deb "$kernel_pkg")
grub_bin_deb=$(fetch_deb grub-efi-amd64-bin)
grub_common_deb=$(fetch_deb grub-common)
grub_pc_deb=$(fetch_deb grub-pc-bin)
busybox_deb=$(fetch_deb busybox-static)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
x="$work/x"
mkdir -p "$x"
kver=${kernel_pkg#linux-image-}
# Only what is needed from the kernel package: the bzImage and the module directories that
# hold the drivers above and their dependencies.
dpkg-deb --fsys-tarfile "$kernel_deb" | tar -x -C "$x" --wildcards \
  "./boot/vmlinuz-$kver" "./lib/modules/$kver/kernel/drivers/block" \
  "./lib/modules/$kver/kernel/drivers/virtio" "./lib/modules/$kver/kernel/drivers/ata" \
  "./lib/modules/$kver/kernel/drivers/scsi" "./lib/modules/$kver/kernel/drivers/cdrom" \
  "./lib/modules/$kver/kernel/drivers/nvme" "./lib/modules/$kver/kernel/fs" \
  "./lib/modules/$kver/kernel/lib" "./lib/modules/$kver/kernel/block" \
  "./lib/modules/$kver/kernel/crypto"
for d in "$grub_bin_deb" "$grub_pc_deb" "$grub_common_deb" "$busybox_deb"; do dpkg-deb -x "$d" "$x"; done

vmlinuz="$x/boot/vmlinuz-$kver"
[ -f "$vmlinuz" ] || { echo "boot-kit: $kernel_deb has no boot/vmlinuz-$kver" >&2; exit 1; }
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(stat -c %Y "$vmlinuz")}
busybox="$x/bin/busybox"
moddir="$x/lib/modules/$kver"

# Module load order: a depth-first walk of each module's `depends=` (from its .modinfo),
# dependencies first, each module once per group.
declare -A modpath=() loaded=()
while IFS= read -r f; do
  n=${f##*/}; n=${n%.ko}; modpath[${n//-/_}]=$f
done < <(find "$moddir" -name '*.ko' | LC_ALL=C sort)
add_module() {
  local name=${1//-/_} f dep
  [ -n "${loaded[$name]:-}" ] && return 0
  f=${modpath[$name]:-}
  [ -n "$f" ] || { echo "boot-kit: module $1 is not in $kernel_pkg" >&2; exit 1; }
  loaded[$name]=1
  for dep in $(tr '\0' '\n' <"$f" | sed -n 's/^depends=//p' | tr ',' ' '); do add_module "$dep"; done
  order+=("$group /lib/modules/$kver/${f#$moddir/}")
}
order=()
for g in "${module_groups[@]}"; do
  read -r group mods <<<"$g"
  loaded=()
  for m in $mods; do add_module "$m"; done
done

# The initramfs tree.
rd="$work/initrd"
mkdir -p "$rd/bin" "$rd/etc" "$rd/dev" "$rd/proc" "$rd/sys" "$rd/newroot" "$rd/media" "$rd/tmp"
install -m 0755 "$initrd_init" "$rd/init"
install -m 0755 "$busybox" "$rd/bin/busybox"
ln -s busybox "$rd/bin/sh"
for line in "${order[@]}"; do m=${line#* }; install -D -m 0644 "$x$m" "$rd$m"; done
printf '%s\n' "${order[@]}" >"$rd/etc/initrd-modules"
find "$rd" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
(cd "$rd" && find . -mindepth 1 | LC_ALL=C sort |
  cpio -o -H newc --reproducible --owner=0:0 --quiet | gzip -n -9) >"$work/initrd.img"

# kernel.tar: boot/initrd.img, so that the initramfs lands in the rootfs.
mkdir -p "$work/kt/boot"
cp "$work/initrd.img" "$work/kt/boot/initrd.img"
tar -C "$work/kt" --sort=name --mtime="@$SOURCE_DATE_EPOCH" --owner=0 --group=0 --numeric-owner \
  --mode=u+rw,go+r,go-w --format=ustar -cf "$work/kernel.tar" boot

# GRUB, with the grub-mkimage and modules of the same packages.
"$x/usr/bin/grub-mkimage" -d "$x/usr/lib/grub/x86_64-efi" -O x86_64-efi -p /EFI/BOOT \
  -o "$work/BOOTX64.EFI" $grub_modules
# Legacy BIOS. EVE's BOOT.pc runs gptprio.next; a stock GRUB has none. Its embedded config
# runs before normal mode (no if/for), so it takes the ESP as partition 1 of the boot disk
# (make-raw's fixed number for efi) and enters normal mode there: the ESP's grub.cfg (the stub)
# finds the rootfs partition and, on a PC BIOS ($grub_platform = pc), reads its grub.cfg.
cat >"$work/bios.cfg" <<'CFG'
set root=$root,gpt1
set prefix=($root)/EFI/BOOT
echo "EVE: legacy BIOS GRUB, ESP ($root)"
normal
CFG
"$x/usr/bin/grub-mkimage" -d "$x/usr/lib/grub/i386-pc" -O i386-pc -p /EFI/BOOT \
  -c "$work/bios.cfg" -o "$work/BOOT.pc" $grub_pc_modules
cp "$x/usr/lib/grub/i386-pc/boot.img" "$work/BOOT.img"

# Installs $1 as $2 (mode $3) unless it is already there byte for byte.
put() {
  if ! cmp -s "$1" "$2" 2>/dev/null; then
    mkdir -p "$(dirname "$2")"
    cp "$1" "$2.tmp.$$"
    mv -f "$2.tmp.$$" "$2"
  fi
  chmod "$3" "$2"
  touch -d "@$SOURCE_DATE_EPOCH" "$2"
}
put "$vmlinuz" "$kernel_kit/kernel" 0644
put "$work/initrd.img" "$kernel_kit/initrd.img" 0644
put "$work/kernel.tar" "$kernel_kit/kernel.tar" 0644
put "$work/BOOTX64.EFI" "$grub_kit/EFI/BOOT/BOOTX64.EFI" 0644
put "$work/BOOT.pc" "$grub_kit/EFI/BOOT/BOOT.pc" 0644
put "$work/BOOT.img" "$grub_kit/EFI/BOOT/BOOT.img" 0644
put "$busybox" "$init_kit/bin/busybox" 0755
if [ "$(readlink "$init_kit/bin/sh" 2>/dev/null)" != busybox ]; then
  rm -f "$init_kit/bin/sh"
  ln -s busybox "$init_kit/bin/sh"
fi
touch -h -d "@$SOURCE_DATE_EPOCH" "$init_kit/bin/sh"

echo "boot-kit: $project uses kernel $kver ($(basename "$kernel_deb")), $(basename "$grub_bin_deb"), $(basename "$grub_pc_deb"), $(basename "$busybox_deb")"
for f in "${kit_files[@]}"; do
  printf '  %-40s %10s bytes\n' "$f" "$(stat -c %s "$project/$f")"
done
