#!/usr/bin/env bash
# Makes sure the local services Berth needs are up: PostgreSQL always, Redis when asked (--redis).
# It starts the machine's own clusters; it never installs a database.
set -euo pipefail

want_redis=false
[ "${1:-}" = "--redis" ] && want_redis=true

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }

if ! pg_up; then
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    echo "services: starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
  fi
  for _ in $(seq 1 30); do pg_up && break; sleep 1; done
  pg_up || { echo "services: PostgreSQL is not reachable at 127.0.0.1:5432 (set DATABASE_URL to use another server)" >&2; exit 1; }
fi

redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; }

if $want_redis && ! redis_up; then
  command -v redis-server >/dev/null 2>&1 || { echo "services: redis-server is not installed: run make tools" >&2; exit 1; }
  echo "services: starting Redis"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
  for _ in $(seq 1 30); do redis_up && break; sleep 0.2; done
  redis_up || { echo "services: Redis is not reachable at 127.0.0.1:6379" >&2; exit 1; }
fi
