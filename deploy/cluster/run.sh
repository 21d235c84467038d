#!/usr/bin/env bash
# `make cluster`: two Gatehouse nodes (127.0.0.1:8081, :8082) behind HAProxy on 127.0.0.1:8080, sharing the
# machine's PostgreSQL (DATABASE_URL, database `gatehouse_cluster` created when missing) and Redis (REDIS_URL).
# Ctrl-C stops all three; one that dies leaves the others serving. Logs: $GATEHOUSE_CLUSTER_DIR/node-{a,b}.log.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"

DATA="${GATEHOUSE_CLUSTER_DIR:-$ROOT/.data/cluster}"
LB_PORT="${CLUSTER_LB_PORT:-8080}"
PORT_A="${CLUSTER_PORT_A:-8081}"
PORT_B="${CLUSTER_PORT_B:-8082}"
RUNTIME_PORT="${CLUSTER_RUNTIME_PORT:-8001}"
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}"
export GATEHOUSE_REDIS_PREFIX="${GATEHOUSE_REDIS_PREFIX:-gatehouse-cluster}"
PG_ADMIN_URL="${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
CLUSTER_DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/gatehouse_cluster}"
mkdir -p "$DATA"

say() { echo "cluster: $*" >&2; }

"$ROOT/deploy/cluster/ensure-haproxy.sh"

if ! redis-cli -u "$REDIS_URL" ping >/dev/null 2>&1; then
  say "Redis does not answer at $REDIS_URL; start it (redis-server) or set REDIS_URL"; exit 1
fi

db="$(basename "${CLUSTER_DATABASE_URL%%\?*}")"
if ! psql "$PG_ADMIN_URL" -tAc "SELECT 1" >/dev/null 2>&1; then
  say "PostgreSQL does not answer at $PG_ADMIN_URL; start it or set PG_ADMIN_URL / DATABASE_URL"; exit 1
fi
if [ "$(psql "$PG_ADMIN_URL" -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'")" != "1" ]; then
  say "creating database $db"
  psql "$PG_ADMIN_URL" -qc "CREATE DATABASE \"$db\"" >/dev/null
fi
export DATABASE_URL="$CLUSTER_DATABASE_URL"

# One installation: both nodes share the secret (signing keys sealed at rest in PostgreSQL, keyed API-key hashes,
# the development issuer's key). Each node has its own data folder ($DATA/node-a, $DATA/node-b), as separate
# machines would: a Gatehouse refuses a data folder another running Gatehouse holds (its lock file).
# The banner tells the CLI (token, keys, migrate: they work on the shared database) where the secret is.
SECRET_HINT='"$GATEHOUSE_SECRET"   # the one you gave the nodes'
if [ -z "${GATEHOUSE_SECRET:-}" ]; then
  [ -s "$DATA/cluster-secret" ] || (umask 077 && head -c 32 /dev/urandom | base64 > "$DATA/cluster-secret")
  GATEHOUSE_SECRET="$(cat "$DATA/cluster-secret")"
  SECRET_HINT="\"\$(cat $DATA/cluster-secret)\""
fi
export GATEHOUSE_SECRET
mkdir -p "$DATA/node-a" "$DATA/node-b"
# The cluster's API key, unless given: its data folder's own random one (never a public one), as `make run`'s.
export PURUTO_GATEWAY_API_KEY="${PURUTO_GATEWAY_API_KEY:-$("$ROOT/deploy/dev-api-key.sh" "$DATA")}"
export GATEHOUSE_ECOSYSTEM_ROOT="${GATEHOUSE_ECOSYSTEM_ROOT:-$ROOT/examples/ecosystem}"
export PURUTO_DATA_PATH="${PURUTO_DATA_PATH-$ROOT/examples/ecosystem/puruto-data}"
export GATEHOUSE_EXTRA_COMMANDS="${GATEHOUSE_EXTRA_COMMANDS-puruto-financial:balance}"
export GATEHOUSE_MANIFEST_DIR="${GATEHOUSE_MANIFEST_DIR:-$ROOT/examples/manifests}"
export NODE_OPTIONS="${NODE_OPTIONS:---no-warnings=ExperimentalWarning}"

pids=()
stop() {
  trap - EXIT INT TERM
  say "stopping"
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop EXIT
trap 'stop; exit 130' INT
trap 'stop; exit 143' TERM

# wait_healthy PORT LOG [PID]: until /health answers there; fails at once when PID (the node) has exited.
wait_healthy() {
  for _ in $(seq 1 120); do
    curl -fsS "http://127.0.0.1:$1/health" >/dev/null 2>&1 && return 0
    if [ -n "${3:-}" ] && ! kill -0 "$3" 2>/dev/null; then say "process on :$1 exited; see $2"; exit 1; fi
    sleep 0.5
  done
  say "process on :$1 did not become healthy; see $2"; exit 1
}

# The reference agent runtime runs as a process of its own that both nodes call: embedded in node A, it died
# with node A and left node B's sessions without a runtime. `node --import tsx`, not the tsx CLI (as `make run`):
# each PID recorded here is the process itself, so that killing it (even SIGKILL) stops it and orphans nothing.
AGENT_RUNTIME_PORT="$RUNTIME_PORT" HOST=127.0.0.1 \
  node --import tsx examples/agent-runtime/server.ts > "$DATA/runtime.log" 2>&1 &
pids+=($!)
wait_healthy "$RUNTIME_PORT" "$DATA/runtime.log" "$!"
# Node A starts first: it applies the migrations.
PORT="$PORT_A" GATEHOUSE_DATA_DIR="$DATA/node-a" AGENT_RUNTIME_URL="http://127.0.0.1:$RUNTIME_PORT" \
  node --import tsx src/main.ts > "$DATA/node-a.log" 2>&1 &
pids+=($!)
wait_healthy "$PORT_A" "$DATA/node-a.log" "$!"
PORT="$PORT_B" GATEHOUSE_DATA_DIR="$DATA/node-b" AGENT_RUNTIME_URL="http://127.0.0.1:$RUNTIME_PORT" \
  node --import tsx src/main.ts > "$DATA/node-b.log" 2>&1 &
pids+=($!)
wait_healthy "$PORT_B" "$DATA/node-b.log" "$!"

GATEHOUSE_LB_BIND="127.0.0.1:$LB_PORT" GATEHOUSE_NODE_A="127.0.0.1:$PORT_A" GATEHOUSE_NODE_B="127.0.0.1:$PORT_B" \
  GATEHOUSE_HEALTH_PATH="${GATEHOUSE_HEALTH_PATH:-/readyz}" \
  haproxy -db -f "$ROOT/deploy/cluster/haproxy.cfg" &
pids+=($!)
wait_healthy "$LB_PORT" "haproxy's output above"

ORG="${GATEHOUSE_DEFAULT_ORG:-default}"
token() { node_modules/.bin/tsx src/cli/main.ts token --sub "$1" --org "$ORG" --role "$2" 2>/dev/null || echo "<see npm run -s gatehouse -- token --help>"; }
LB="http://127.0.0.1:$LB_PORT"
cat <<INFO

Gatehouse cluster: $LB (HAProxy) → node A http://127.0.0.1:$PORT_A, node B http://127.0.0.1:$PORT_B
  store: PostgreSQL $DATABASE_URL
  redis: $REDIS_URL (prefix $GATEHOUSE_REDIS_PREFIX)     logs: $DATA/node-a.log, $DATA/node-b.log
  agent runtime (reference, both nodes): http://127.0.0.1:$RUNTIME_PORT     log: $DATA/runtime.log

  curl $LB/health
  curl -H "X-API-Key: $PURUTO_GATEWAY_API_KEY" $LB/purutos
  export API_KEY=$PURUTO_GATEWAY_API_KEY ORG_ID=$ORG
  export TOKEN=$(token operator@cluster operator)
  export IDE_TOKEN=$(token ide-user@cluster developer)
  export GATEHOUSE_URL=$LB GATEHOUSE_TOKEN="\$TOKEN" GATEHOUSE_API_KEY="\$API_KEY"   # for the gatehouse CLI
  export DATABASE_URL=$DATABASE_URL GATEHOUSE_SECRET=$SECRET_HINT
  more tokens (the cluster's issuer key is in the database): npm run -s gatehouse -- token --sub alice --role operator
  IDE session: ws://127.0.0.1:$LB_PORT/ws/my-session   Authorization: Bearer \$IDE_TOKEN
  one node only: replace :$LB_PORT with :$PORT_A or :$PORT_B. Ctrl-C stops the cluster.

INFO
# A node that dies (even SIGKILL) leaves the others serving, as the README promises: HAProxy takes it out of
# rotation. The cluster stops on Ctrl-C, or once none of its processes is left.
while :; do
  alive=()
  for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive+=("$pid"); done
  [ "${#alive[@]}" -gt 0 ] || { say "every process of the cluster has exited; see the logs above"; exit 1; }
  [ "${#alive[@]}" -lt "${#pids[@]}" ] && [ -z "${told:-}" ] && told=1 &&
    say "a process of the cluster exited (see its log); the others keep serving. Ctrl-C stops them."
  wait -n "${alive[@]}" 2>/dev/null || sleep 0.2
done
