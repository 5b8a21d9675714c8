#!/usr/bin/env bash
# A PostgreSQL server on 127.0.0.1:5432 for the multi-node store's tests
# (mamori-store/tests/postgres.rs, mamori-server/tests/cluster.rs): user
# postgres, database test, trusted on loopback. This project's machines run
# one already; it is started if it stopped, and installed from Debian's
# packages only when absent.
set -euo pipefail
ready() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
wait_ready() {
  for _ in $(seq 1 60); do ready && return 0; sleep 0.5; done
  echo "PostgreSQL did not come up on 127.0.0.1:5432" >&2
  return 1
}
if command -v pg_isready >/dev/null 2>&1 && ready; then
  echo "PostgreSQL is running"
else
  fresh=0
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    apt-get update -qq && apt-get install -y -qq postgresql
    fresh=1
  fi
  version=$(ls /etc/postgresql | sort -V | tail -1)
  if [ "$fresh" = 1 ]; then
    # Only a server installed here for the tests is opened to loopback
    # without a password.
    hba=/etc/postgresql/$version/main/pg_hba.conf
    sed -i '/^host/d' "$hba"
    printf 'host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\n' >> "$hba"
  fi
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  wait_ready
fi
# The tests' database.
if ! psql -h 127.0.0.1 -U postgres -d postgres -Atc "SELECT 1 FROM pg_database WHERE datname = 'test'" | grep -q 1; then
  psql -h 127.0.0.1 -U postgres -d postgres -c "CREATE DATABASE test"
fi
