#!/usr/bin/env bash
# TypeScript for the enabler's type check (tests/enabler/test_types.py) and axe-core for the
# browser tests' accessibility audit (tests/browser/test_accessibility.py), installed with
# `npm ci` from the committed lock into .tools/node_modules (git-ignored), again only when the
# lock changed. Idempotent. tender itself never needs Node: without it the checks are skipped,
# except under CI=true, where a missing check is a failure.
set -euo pipefail
cd "$(dirname "$0")/../.tools"

if ! command -v npm >/dev/null 2>&1; then
  echo "npm is not installed: the enabler's type check and the accessibility audit cannot run" >&2
  [ "${CI:-}" = true ] && exit 1 || exit 0
fi
# One install at a time: the type check and the browser tests may each ask for it at once.
if command -v flock >/dev/null 2>&1; then exec 9<package-lock.json && flock 9; fi
stamp="node_modules/.installed-$(cksum < package-lock.json | cut -d' ' -f1)"
[ -f "$stamp" ] && [ -x node_modules/.bin/tsc ] && [ -f node_modules/axe-core/axe.min.js ] && exit 0
npm ci --no-audit --no-fund --loglevel=error
touch "$stamp"
