#!/usr/bin/env bash
# Debian's Chromium for the browser tests (tests/browser), which Playwright drives as
# /usr/bin/chromium (`playwright install` cannot download its own build everywhere).
# Idempotent: installs only when it is missing, and only as root with apt-get. Otherwise the
# browser tests skip, except under CI=true, where that is a failure.
set -euo pipefail
CHROMIUM=/usr/bin/chromium

[ -x "$CHROMIUM" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Chromium from Debian's packages" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  exit 0
fi
echo "Chromium is not installed at $CHROMIUM and cannot be installed here" >&2
[ "${CI:-}" = true ] && exit 1 || exit 0
