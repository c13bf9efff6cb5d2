#!/usr/bin/env bash
# Install (if needed) and start Debian's PostgreSQL, and create the role and database the tests use.
# Idempotent. Needs root; without it, say so and let the PostgreSQL tests skip (or fail with XCH_REQUIRE_PG=1).
set -euo pipefail
if [ "$(id -u)" != 0 ]; then
  echo "not root: not starting PostgreSQL (PostgreSQL tests will skip)"; exit 0
fi
if ! command -v pg_ctlcluster >/dev/null 2>&1 || [ -z "$(ls /usr/lib/postgresql 2>/dev/null)" ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
PGV=$(ls /usr/lib/postgresql | sort -V | tail -1)
# No systemd here and policy-rc.d may block auto-start: start the cluster ourselves.
pg_lsclusters -h | grep -q "^$PGV main .* online" || pg_ctlcluster "$PGV" main start
for _ in $(seq 1 30); do su postgres -c "psql -tAc 'SELECT 1'" >/dev/null 2>&1 && break; sleep 1; done
su postgres -c "psql -tAc \"SELECT 1 FROM pg_roles WHERE rolname='xch'\"" | grep -q 1 \
  || su postgres -c "psql -v ON_ERROR_STOP=1 -c \"CREATE ROLE xch LOGIN PASSWORD 'xch' CREATEDB\""
# Tests drop their databases WITH (FORCE); an autovacuum worker on a fresh database has no role, and
# only pg_signal_backend may terminate it (PostgreSQL 15), or the drop fails at random.
su postgres -c "psql -v ON_ERROR_STOP=1 -qc 'GRANT pg_signal_backend TO xch'" 2>/dev/null >/dev/null
su postgres -c "psql -tAc \"SELECT 1 FROM pg_database WHERE datname='xch_test'\"" | grep -q 1 \
  || su postgres -c "createdb -O xch xch_test"
echo "PostgreSQL $PGV up on 127.0.0.1:5432 (role xch, database xch_test)"
