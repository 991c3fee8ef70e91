#!/usr/bin/env bash
# Pull throughput: evebuild-oci against skopeo, side by side, from a local docker-registry.
#
# Makes a single-platform image of incompressible gzip layers (default 200 MB in 8 layers),
# pushes it to a docker-registry on 127.0.0.1 with skopeo, then pulls it RUNS times with each
# tool into a fresh directory (alternating), and prints the best time of each and the ratio.
#
#   bench/pull.sh [MB] [LAYERS] [RUNS]
# Needs: docker-registry, skopeo (Debian packages of the same names).
set -euo pipefail
MB=${1:-200}
LAYERS=${2:-8}
RUNS=${3:-3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
for t in docker-registry skopeo; do
    command -v "$t" >/dev/null || { echo "missing $t: apt-get install $t" >&2; exit 1; }
done
cargo build -q --release -p evebuild-oci --example pull
PULL=$CARGO_TARGET_DIR/release/examples/pull

WORK=$(mktemp -d)
REG_PID=
cleanup() { [ -n "$REG_PID" ] && kill "$REG_PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$WORK/config.yml" <<CFG
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $WORK/registry
http:
  addr: 127.0.0.1:$PORT
CFG
docker-registry serve "$WORK/config.yml" >/dev/null 2>&1 &
REG_PID=$!
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done

REF=127.0.0.1:$PORT/bench/big:1
echo "making a ${MB} MB image in $LAYERS layers..."
"$PULL" make "$WORK/src" "bench/big:1" "$MB" "$LAYERS"
skopeo copy -q "oci:$WORK/src:docker.io/bench/big:1" "docker://$REF" --dest-tls-verify=false

now() { date +%s.%N; }
calc() { python3 -c "print(round($1, 3))"; }
best_ours=999999; best_skopeo=999999
for run in $(seq "$RUNS"); do
    rm -rf "$WORK/ours" "$WORK/sk"
    t0=$(now); "$PULL" get "$WORK/ours" "$REF" >/dev/null; t1=$(now)
    skopeo copy -q --src-tls-verify=false "docker://$REF" "oci:$WORK/sk:x"; t2=$(now)
    ours=$(calc "$t1 - $t0"); sk=$(calc "$t2 - $t1")
    echo "run $run: evebuild-oci ${ours}s  skopeo ${sk}s"
    best_ours=$(calc "min($ours, $best_ours)"); best_skopeo=$(calc "min($sk, $best_skopeo)")
done
SIZE=$(du -sb "$WORK/ours/blobs" | cut -f1)
echo "image: $SIZE bytes stored"
echo "best: evebuild-oci ${best_ours}s ($(calc "$SIZE / $best_ours / 1e6") MB/s)," \
     "skopeo ${best_skopeo}s ($(calc "$SIZE / $best_skopeo / 1e6") MB/s)"
echo "throughput ratio evebuild-oci/skopeo: $(calc "$best_skopeo / $best_ours")"
