#!/usr/bin/env bash
# ctest version_header: cmake/version_header.cmake, which every build runs, names the commit the sources are
# at: the short hash in a clean checkout, the hash with "-dirty" once a tracked file changes, a new hash after
# a commit (the case a configure-time capture got wrong), and "unknown" outside git. Runs in a scratch git
# repository holding a copy of the template.
#   usage: version_header.sh <source dir>
set -euo pipefail
SRC=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/repo/src/common"
cp "$SRC/src/common/version.h.in" "$work/repo/src/common/"
cd "$work/repo"
git init -q
git -c user.name=t -c user.email=t@t add -A
git -c user.name=t -c user.email=t@t commit -q -m one
header() {
  cmake -DSOURCE_DIR="$1" -DOUTPUT="$work/tt_version.h" -DPROJECT_VERSION=9.8.7 "-DTT_BACKENDS=cpu" \
    -P "$SRC/cmake/version_header.cmake"
  sed -n 's/#define TT_GIT_COMMIT "\(.*\)"/\1/p' "$work/tt_version.h"
}
expect() {  # expect <what> <got> <want>
  if [[ $2 != "$3" ]]; then
    echo "FAIL: $1: TT_GIT_COMMIT is '$2', expected '$3'"
    exit 1
  fi
  echo "ok: $1: $2"
}
expect "clean checkout" "$(header "$work/repo")" "$(git rev-parse --short=12 HEAD)"
grep -q '#define TT_VERSION "9.8.7"' "$work/tt_version.h" || { echo "FAIL: TT_VERSION not 9.8.7"; exit 1; }
echo "// edit" >> src/common/version.h.in
expect "tracked file changed" "$(header "$work/repo")" "$(git rev-parse --short=12 HEAD)-dirty"
git -c user.name=t -c user.email=t@t commit -q -am two
expect "after a new commit" "$(header "$work/repo")" "$(git rev-parse --short=12 HEAD)"
mkdir -p "$work/plain/src/common"
cp "$SRC/src/common/version.h.in" "$work/plain/src/common/"
expect "no git repository" "$(GIT_CEILING_DIRECTORIES=$work header "$work/plain")" \
  "unknown"
