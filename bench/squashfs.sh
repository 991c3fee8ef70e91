#!/usr/bin/env bash
# Benchmark: evebuild's squashfs writer against mksquashfs on the same real tree.
#
#   bench/squashfs.sh [TREE]
#
# TREE defaults to a ~350 MB copy of /usr/lib subdirectories (ELF binaries, Python, data),
# made in a temporary directory and removed afterwards. Runs alternate between the tools
# (RUNS rounds, default 3) so that load from other work on the machine hits all of them
# alike; the report gives every time, the median, the image sizes and the ratios.
#
# Compared: ours (xz, x86+ARM BCJ chosen per file) vs `mksquashfs -comp xz -Xbcj x86,arm
# -noappend -no-recovery` (EVE's flags) and vs plain `mksquashfs -comp xz`; also ours with
# plain xz. Both wall time and CPU time (user + system) are reported: on a machine shared
# with other work, CPU time is the steadier measure of the work done. Needs squashfs-tools
# and GNU time (package time).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/work/target}
cargo build --release -q -p evebuild-squashfs --example mksquashfs
OURS="$CARGO_TARGET_DIR/release/examples/mksquashfs"

work=$(mktemp -d /tmp/squashfs-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
if [[ $# -ge 1 ]]; then
    tree=$1
else
    tree=$work/tree
    mkdir "$tree"
    for d in gcc python3.11 python3 postgresql cni git-core grub; do
        [[ -d /usr/lib/$d ]] && cp -a "/usr/lib/$d" "$tree/"
    done
fi
echo "tree: $tree, $(du -sm "$tree" | cut -f1) MB, $(find "$tree" | wc -l) entries; $(nproc) cores"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"

declare -A cmd=(
    [ours]="$OURS $tree $work/ours.img --mkfs-time 1"
    [ours-plain]="$OURS $tree $work/ours-plain.img --comp xz-plain --mkfs-time 1"
    [mksquashfs-bcj]="mksquashfs $tree $work/mksquashfs-bcj.img -comp xz -Xbcj x86,arm -noappend -no-recovery -quiet -no-progress"
    [mksquashfs-xz]="mksquashfs $tree $work/mksquashfs-xz.img -comp xz -noappend -no-recovery -quiet -no-progress"
)
order=(ours mksquashfs-bcj ours-plain mksquashfs-xz)
declare -A times cpus
for ((r = 1; r <= RUNS; r++)); do
    for name in "${order[@]}"; do
        /usr/bin/time -f '%e %U %S' -o "$work/time" ${cmd[$name]} >/dev/null 2>&1
        read -r wall user sys <"$work/time"
        cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN {print u + s}')
        times[$name]="${times[$name]:-} $wall"
        cpus[$name]="${cpus[$name]:-} $cpu"
        printf 'round %d %-15s wall %7.1f s  cpu %7.1f s  (load %s)\n' "$r" "$name" "$wall" "$cpu" \
            "$(cut -d' ' -f1 /proc/loadavg)"
    done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
echo
printf '%-15s %12s %12s %14s\n' tool "median wall" "median cpu" "image bytes"
declare -A med cpu size
for name in "${order[@]}"; do
    med[$name]=$(echo "${times[$name]}" | median)
    cpu[$name]=$(echo "${cpus[$name]}" | median)
    size[$name]=$(stat -c %s "$work/$name.img")
    printf '%-15s %12.1f %12.1f %14d\n' "$name" "${med[$name]}" "${cpu[$name]}" "${size[$name]}"
done
echo
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", a / b}'; }
compare() {
    echo "$1: wall $(ratio "${med[$2]}" "${med[$3]}"), cpu $(ratio "${cpu[$2]}" "${cpu[$3]}"), size $(ratio "${size[$2]}" "${size[$3]}")"
}
compare "ours / mksquashfs -Xbcj x86,arm" ours mksquashfs-bcj
compare "ours / mksquashfs plain xz     " ours mksquashfs-xz
compare "ours plain / mksquashfs plain  " ours-plain mksquashfs-xz
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
# The images must hold the same tree: compare unsquashfs listings of ours and mksquashfs's (the
# root line aside: its attributes come from our options, in mksquashfs from the source dir).
diff <(unsquashfs -lln "$work/ours.img" | grep -v ' squashfs-root$' | sort) \
    <(unsquashfs -lln "$work/mksquashfs-bcj.img" | grep -v ' squashfs-root$' | sort) >/dev/null \
    && echo "listings of ours and mksquashfs's image are identical" \
    || echo "WARNING: listings differ"
