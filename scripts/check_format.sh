#!/usr/bin/env bash
# Fails if any C++/CUDA source differs from .clang-format. Fix with: scripts/check_format.sh --fix
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files -- '*.cpp' '*.h' '*.cu' '*.cuh' '*.hpp')
[[ ${#files[@]} -eq 0 ]] && exit 0
if [[ "${1:-}" == "--fix" ]]; then
  clang-format -i "${files[@]}"
  exit 0
fi
if ! clang-format --dry-run --Werror "${files[@]}" 2>/tmp/tt_format.log; then
  head -40 /tmp/tt_format.log >&2
  echo "formatting differs from .clang-format; run scripts/check_format.sh --fix" >&2
  exit 1
fi
echo "format: ${#files[@]} files ok" >&2
