#!/usr/bin/env bash
# Starts the machine's PostgreSQL 15 cluster and creates the role and database the tests use.
# Prints the URL to export as STEWARD_TEST_POSTGRES_URL.
set -euo pipefail
pg_ctlcluster 15 main start >/dev/null 2>&1 || pg_ctlcluster 15 main status >/dev/null
for _ in $(seq 1 30); do
  runuser -u postgres -- pg_isready -q && break
  sleep 0.5
done
runuser -u postgres -- psql -q -v ON_ERROR_STOP=1 <<'SQL'
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'steward') THEN
    CREATE ROLE steward LOGIN PASSWORD 'steward';
  END IF;
END $$;
SQL
if ! runuser -u postgres -- psql -tAc "SELECT 1 FROM pg_database WHERE datname = 'steward_test'" | grep -q 1; then
  runuser -u postgres -- createdb -O steward steward_test
fi
# The tests may run 32 registering processes at once, each with its own pool.
echo "postgres://steward:steward@127.0.0.1:5432/steward_test"
