#!/usr/bin/env bash
# Make sure a PostgreSQL server answers for the test suite: use the one running, start an
# installed one that is stopped, or (as root) install Debian's package and start it.
# Idempotent. TENDER_TEST_POSTGRES_URL overrides where the tests look.
set -euo pipefail
HOST=${PGHOST:-127.0.0.1}
PORT=${PGPORT:-5432}

ready() { pg_isready -q -h "$HOST" -p "$PORT" 2>/dev/null || (exec 3<>"/dev/tcp/$HOST/$PORT") 2>/dev/null; }

if ready; then exit 0; fi

if ! command -v pg_ctlcluster >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing PostgreSQL from Debian's packages" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  else
    echo "PostgreSQL is not installed and cannot be installed here" >&2
    [ "${CI:-}" = true ] && exit 1 || exit 0
  fi
fi

version=$(ls /etc/postgresql | sort -V | tail -1)
hba=/etc/postgresql/$version/main/pg_hba.conf
# The suite connects as postgres over TCP from this machine only.
if ! grep -q '^host all postgres 127.0.0.1/32 trust' "$hba" 2>/dev/null; then
  sed -i '1i host all postgres 127.0.0.1/32 trust' "$hba" 2>/dev/null || true
fi
echo "starting PostgreSQL $version" >&2
pg_ctlcluster --skip-systemctl-redirect "$version" main start 2>/dev/null \
  || pg_ctlcluster "$version" main start
for _ in $(seq 1 30); do ready && exit 0; sleep 1; done
echo "PostgreSQL did not start" >&2
exit 1
