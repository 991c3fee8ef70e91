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

# The SPDX validator and syft scripts/install-test-deps.sh installed (the SBOM tests need them).
venv=${EVEBUILD_VENV:-$HOME/.cache/evebuild/venv}
export PYSPDXTOOLS="${PYSPDXTOOLS:-$venv/bin/pyspdxtools}" SYFT="${SYFT:-$venv/bin/syft}"

cargo test --workspace --locked "$@"
