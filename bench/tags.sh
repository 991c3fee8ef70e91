#!/bin/sh
# Time resolving the tags of 50 package directories in a generated repository of 5,000 files,
# side by side with 50 × `git rev-parse HEAD:pkg/x` and with the per-package git commands
# linuxkit runs (tree id, diff, untracked check). Needs git and hyperfine.
#   bench/tags.sh            (from the repository root; uses CARGO_TARGET_DIR if set)
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
command -v hyperfine >/dev/null || { echo "install the hyperfine package" >&2; exit 1; }
cargo build -q --release -p evebuild-linuxkit --example show_tags --manifest-path "$root/Cargo.toml"
tool=$target/release/examples/show_tags

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
git init -q -b main .
# 50 packages × 90 files + 500 files elsewhere = 5,000 files (+ 50 build.yml).
for p in $(seq -w 1 50); do
  mkdir -p "pkg/p$p/src"
  printf 'org: lfedge\nimage: eve-p%s\n' "$p" > "pkg/p$p/build.yml"
  for f in $(seq 1 90); do echo "$p $f" > "pkg/p$p/src/f$f.c"; done
done
mkdir -p docs
for f in $(seq 1 500); do echo "$f" > "docs/d$f.md"; done
git add -A
GIT_AUTHOR_NAME=b GIT_AUTHOR_EMAIL=b@b GIT_COMMITTER_NAME=b GIT_COMMITTER_EMAIL=b@b git commit -qm bench
echo "dirty" >> pkg/p07/src/f1.c     # one dirty package, as in a working tree
echo "new" > pkg/p13/src/new.c       # one with an untracked file
git status --short >/dev/null        # warm the index

dirs=$(ls -d pkg/p*)
echo "files: $(git ls-files | wc -l), packages: $(echo "$dirs" | wc -w)"
"$tool" $dirs | head -3
printf 'for d in %s; do git rev-parse "HEAD:$d" >/dev/null; done\n' "$(echo $dirs)" > revparse.sh
printf 'for d in %s; do git ls-tree --full-tree HEAD -- "$d" >/dev/null; git diff --no-ext-diff --quiet HEAD -- "$d"; git ls-files --exclude-standard --others --error-unmatch -- "$d" >/dev/null 2>&1; done; true\n' "$(echo $dirs)" > linuxkit-git.sh
hyperfine -N --warmup 3 --runs 30 --export-markdown "$work/result.md" \
  -n "evebuild show_tags (50 packages, one batch)" "$tool $dirs" \
  -n "50 x git rev-parse HEAD:pkg/x" "sh revparse.sh" \
  -n "50 x linuxkit's git commands (ls-tree, diff, ls-files)" "sh linuxkit-git.sh"
cat "$work/result.md"
