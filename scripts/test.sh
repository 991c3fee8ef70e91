#!/usr/bin/env bash
# Runs evebuild's whole test suite on a fresh machine: installs the Debian packages the tests
# use as oracles, then runs every test. CI runs exactly this (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-test-deps.sh
# The bundled example's boot kit (kernel, initramfs, GRUB, busybox from Debian packages): the
# boot tests need it.
./scripts/boot-kit.sh

# The EVE conformance data (real EVE templates and golden outputs) lives beside the project.
if [ -z "${EVE_REFERENCE_DIR:-}" ] && [ -d ../shared/eve ]; then
  export EVE_REFERENCE_DIR="$(cd ../shared/eve && pwd)"
fi

# The SPDX validator scripts/install-test-deps.sh installed (the SBOM tests need it).
export PYSPDXTOOLS="${PYSPDXTOOLS:-${EVEBUILD_VENV:-$HOME/.cache/evebuild/venv}/bin/pyspdxtools}"

cargo test --workspace --locked "$@"
