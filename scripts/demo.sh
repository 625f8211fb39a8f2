#!/usr/bin/env bash
# `make demo`: the full monitoring stack without Docker, from Debian packages, on 127.0.0.1:
# PostgreSQL (the demo business ledger), the simulator writing that ledger, the exporter
# (examples/demo-config.yml), blackbox_exporter, node_exporter and postgres_exporter (platform
# health), Prometheus (the repository's rules and scrape jobs) and Alertmanager (the repository's
# routes, receivers pointed at a local sink).
#
#   scripts/demo.sh            run until Ctrl-C (or SIGTERM); everything started is stopped
#   scripts/demo.sh --check    start, verify every target is up and alerts flow, stop (exit 0/1)
#   scripts/demo.sh --reset    wipe the demo directory (and the PostgreSQL cluster) first
#   DEMO_DURATION=60 scripts/demo.sh   run for 60 seconds, then stop
#
# Settings (environment): DEMO_DIR (var/demo), DEMO_PG_DIR (DEMO_DIR/postgres), ports
# DEMO_{SIMULATOR,EXPORTER,PROMETHEUS,ALERTMANAGER,BLACKBOX,PG,SINK,NODE,PG_EXPORTER}_PORT, DEMO_SCRAPE_INTERVAL
# (5s), DEMO_TPS (5), DEMO_SEED (1). Re-runs reuse DEMO_DIR: the PostgreSQL cluster and the
# Prometheus history are kept, the configs are regenerated and the ledger restarts with the chain.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

CHECK=0 RESET=0
for arg in "$@"; do
  case $arg in
    --check) CHECK=1 ;;
    --reset) RESET=1 ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "demo: unknown argument $arg (see --help)" >&2; exit 2 ;;
  esac
done

BIN=$ROOT/.venv/bin
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
HOST=127.0.0.1
SIMULATOR_PORT=${DEMO_SIMULATOR_PORT:-8899}
EXPORTER_PORT=${DEMO_EXPORTER_PORT:-10190}
PROMETHEUS_PORT=${DEMO_PROMETHEUS_PORT:-9090}
ALERTMANAGER_PORT=${DEMO_ALERTMANAGER_PORT:-9093}
BLACKBOX_PORT=${DEMO_BLACKBOX_PORT:-9115}
PG_PORT=${DEMO_PG_PORT:-55432}
SINK_PORT=${DEMO_SINK_PORT:-9099}
NODE_PORT=${DEMO_NODE_PORT:-9100}
PG_EXPORTER_PORT=${DEMO_PG_EXPORTER_PORT:-9187}
SCRAPE_INTERVAL=${DEMO_SCRAPE_INTERVAL:-5s}
DURATION=${DEMO_DURATION:-0}

mkdir -p "${DEMO_DIR:-var/demo}"
DEMO_DIR=$(cd "${DEMO_DIR:-var/demo}" && pwd)
RUN=$DEMO_DIR/run
LOGS=$DEMO_DIR/logs
PG_ROOT=${DEMO_PG_DIR:-$DEMO_DIR/postgres}
# The exporter config (examples/demo-config.yml) reads these.
export DEMO_DIR DEMO_SIMULATOR_PORT=$SIMULATOR_PORT DEMO_PG_PORT=$PG_PORT

say() { echo "demo: $*"; }
die() { echo "demo: $*" >&2; exit 1; }

for tool in "$PG_BIN/initdb" "$PG_BIN/pg_ctl" "$PG_BIN/psql" "$BIN/escrow-exporter"; do
  [[ -x $tool ]] || die "$tool not found (make setup installs the Python side; PostgreSQL 15 is the Debian package postgresql-15)"
done
for tool in prometheus prometheus-alertmanager prometheus-blackbox-exporter prometheus-node-exporter prometheus-postgres-exporter; do
  command -v "$tool" >/dev/null || die "$tool not found (Debian package $tool)"
done

# ---- PostgreSQL runs as the postgres user when we are root (it refuses to run as root) ----------
as_pg() {
  if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}
prepare_pg_root() {
  mkdir -p "$PG_ROOT"
  if [[ $(id -u) == 0 ]]; then
    id postgres >/dev/null 2>&1 || die "running as root and there is no postgres user to run PostgreSQL as"
    chown postgres:postgres "$PG_ROOT"
    chmod 700 "$PG_ROOT"
    if ! runuser -u postgres -- test -w "$PG_ROOT"; then
      # A parent folder is closed to the postgres user (a checkout under /root, say).
      PG_ROOT=/tmp/escrow-demo-postgres-$(printf %s "$DEMO_DIR" | cksum | cut -d' ' -f1)
      say "the postgres user cannot reach $DEMO_DIR; the PostgreSQL cluster lives in $PG_ROOT"
      mkdir -p "$PG_ROOT" && chown postgres:postgres "$PG_ROOT" && chmod 700 "$PG_ROOT"
    fi
  fi
  PG_DATA=$PG_ROOT/data
}
pg_running() { [[ -f $PG_DATA/PG_VERSION ]] && as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1; }
pg_stop() { pg_running && as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w stop >/dev/null 2>&1 || true; }
psql_as() { # USER DB SQL
  "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$HOST" -p "$PG_PORT" -U "$1" -d "$2" -c "$3" >/dev/null
}

# ---- processes we start: pid files in $RUN, stopped by pid only ------------------------------------
NAMES=()
PIDS=()
alive() { # a zombie (exited, not yet reaped) is not alive; the state follows the ") " in stat
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  [[ ${stat##*) } != Z* ]]
}
start() { # NAME COMMAND...
  local name=$1; shift
  "$@" >"$LOGS/$name.log" 2>&1 &
  local pid=$!
  echo "$pid" >"$RUN/$name.pid"
  tr '\0' ' ' <"/proc/$pid/cmdline" >"$RUN/$name.cmd" 2>/dev/null || true
  NAMES+=("$name")
  PIDS+=("$pid")
}
stop_pids() { # PID... : TERM, up to 15 s, then KILL
  local pid deadline=$((SECONDS + 15))
  for pid in "$@"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "$@"; do
    while alive "$pid" && ((SECONDS < deadline)); do sleep 0.1; done
    if alive "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
    wait "$pid" 2>/dev/null || true
  done
}
stop_leftovers() { # a previous run killed with -9 left these: same pid and same command line only
  local f pid
  for f in "$RUN"/*.pid; do
    [[ -f $f ]] || continue
    pid=$(cat "$f")
    if alive "$pid" && [[ -f ${f%.pid}.cmd && $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) == "$(cat "${f%.pid}.cmd")" ]]; then
      say "stopping $(basename "${f%.pid}") left over from an earlier run (pid $pid)"
      stop_pids "$pid"
    fi
    rm -f "$f" "${f%.pid}.cmd"
  done
}

CLEANED=0
cleanup() {
  ((CLEANED)) && return 0
  CLEANED=1
  set +e # stop everything even if one step fails
  trap - INT TERM
  [[ -n ${SLEEP_PID:-} ]] && kill "$SLEEP_PID" 2>/dev/null
  local i pids=()
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do pids+=("${PIDS[i]}"); done
  if ((${#pids[@]})); then
    say "stopping ${NAMES[*]}"
    stop_pids "${pids[@]}"
  fi
  if [[ -n ${PG_DATA:-} ]] && pg_running; then
    say "stopping PostgreSQL"
    pg_stop
  fi
  rm -f "$RUN"/*.pid "$RUN"/*.cmd
  say "stopped"
}
trap cleanup EXIT
trap 'cleanup; exit 0' INT TERM

wait_http() { # NAME URL TIMEOUT_SECONDS
  local name=$1 url=$2 deadline=$((SECONDS + $3)) i pid=""
  for i in "${!NAMES[@]}"; do [[ ${NAMES[i]} == "$name" ]] && pid=${PIDS[i]}; done
  until "$BIN/python" -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)" "$url" 2>/dev/null; do
    if [[ -n $pid ]] && ! alive "$pid"; then
      tail -20 "$LOGS/$name.log" >&2 || true
      die "$name exited during start-up (log: $LOGS/$name.log)"
    fi
    ((SECONDS < deadline)) || die "$name did not answer $url within $3 s (log: $LOGS/$name.log)"
    sleep 0.2
  done
}
port_free() {
  # SO_REUSEADDR like the servers themselves: connections in TIME_WAIT do not make a port busy.
  "$BIN/python" -c "import socket,sys; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('$HOST', int(sys.argv[1]))); s.listen()" "$1" 2>/dev/null
}

# ---- start ------------------------------------------------------------------------------------------
mkdir -p "$RUN" "$LOGS"
stop_leftovers
prepare_pg_root
pg_stop # a cluster left running by a run killed with -9
if ((RESET)); then
  say "resetting $DEMO_DIR"
  rm -rf "$PG_DATA" "$DEMO_DIR"/{prometheus-data,alertmanager-data,alertmanager-secrets,state.sqlite,notifications.jsonl} "$LOGS"/*
fi
for pair in SIMULATOR:$SIMULATOR_PORT EXPORTER:$EXPORTER_PORT PROMETHEUS:$PROMETHEUS_PORT \
  ALERTMANAGER:$ALERTMANAGER_PORT BLACKBOX:$BLACKBOX_PORT PG:$PG_PORT SINK:$SINK_PORT \
  NODE:$NODE_PORT PG_EXPORTER:$PG_EXPORTER_PORT; do
  port_free "${pair#*:}" || die "port ${pair#*:} on $HOST is in use: stop what holds it or set DEMO_${pair%%:*}_PORT"
done

say "PostgreSQL on $HOST:$PG_PORT ($PG_DATA)"
if [[ ! -f $PG_DATA/PG_VERSION ]]; then
  as_pg "$PG_BIN/initdb" -D "$PG_DATA" -U postgres --auth=trust -E UTF8 --no-sync >"$LOGS/initdb.log" 2>&1 ||
    { tail -20 "$LOGS/initdb.log" >&2; die "initdb failed (log: $LOGS/initdb.log)"; }
fi
# Loopback only, trust authentication: a throw-away demo cluster, never a production set-up.
as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_ROOT/server.log" -w -t 60 \
  -o "-p $PG_PORT -k $PG_ROOT -c listen_addresses=$HOST -c fsync=off -c synchronous_commit=off" start >/dev/null ||
  { tail -20 "$PG_ROOT/server.log" >&2; die "PostgreSQL did not start (log: $PG_ROOT/server.log)"; }
# The ledger writer `escrow` owns the database; the exporter reads as `escrow_reader` (SELECT only).
psql_as postgres postgres "DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'escrow') THEN CREATE ROLE escrow LOGIN; END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'escrow_reader') THEN CREATE ROLE escrow_reader LOGIN; END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'escrow_monitor') THEN CREATE ROLE escrow_monitor LOGIN IN ROLE pg_monitor; END IF;
END \$\$"
if [[ -z $("$PG_BIN/psql" -X -At -h "$HOST" -p "$PG_PORT" -U postgres -d postgres -c "SELECT 1 FROM pg_database WHERE datname = 'escrow'") ]]; then
  psql_as postgres postgres "CREATE DATABASE escrow OWNER escrow"
fi
WRITER_DSN=postgresql://escrow@$HOST:$PG_PORT/escrow
"$BIN/python" -m exporter.sql.migrate --driver postgres --dsn "$WRITER_DSN" >"$LOGS/migrate.log" 2>&1 ||
  { cat "$LOGS/migrate.log" >&2; die "applying schema/postgres failed"; }
psql_as escrow escrow "GRANT USAGE ON SCHEMA public TO escrow_reader;
  GRANT SELECT ON ALL TABLES IN SCHEMA public TO escrow_reader;
  ALTER DEFAULT PRIVILEGES FOR ROLE escrow IN SCHEMA public GRANT SELECT ON TABLES TO escrow_reader"

PORTS="{\"prometheus\": $PROMETHEUS_PORT, \"alertmanager\": $ALERTMANAGER_PORT, \"exporter\": $EXPORTER_PORT,
  \"simulator\": $SIMULATOR_PORT, \"blackbox\": $BLACKBOX_PORT, \"sink\": $SINK_PORT,
  \"node\": $NODE_PORT, \"postgres_exporter\": $PG_EXPORTER_PORT}"
"$BIN/python" scripts/demo/render_configs.py --demo-dir "$DEMO_DIR" --ports "$PORTS" \
  --scrape-interval "$SCRAPE_INTERVAL" >/dev/null

say "simulator on $HOST:$SIMULATOR_PORT, writing the demo ledger into PostgreSQL"
start simulator "$BIN/escrow-exporter" devchain --listen "$HOST:$SIMULATOR_PORT" --seed "${DEMO_SEED:-1}" \
  --tps "${DEMO_TPS:-5}" --ledger-db "$WRITER_DSN"
start sink "$BIN/python" scripts/demo/sink.py --listen "$HOST:$SINK_PORT" --log "$DEMO_DIR/notifications.jsonl"
start blackbox prometheus-blackbox-exporter --config.file="$ROOT/prometheus/blackbox.yml" \
  --web.listen-address="$HOST:$BLACKBOX_PORT"
# Platform health: the host, and the database as the pg_monitor role (the exporter's own queries,
# plus prometheus/postgres_exporter/queries.yaml: table sizes, slow queries).
start node prometheus-node-exporter --web.listen-address="$HOST:$NODE_PORT"
start postgres_exporter env "DATA_SOURCE_NAME=postgresql://escrow_monitor@$HOST:$PG_PORT/escrow?sslmode=disable" \
  prometheus-postgres-exporter --web.listen-address="$HOST:$PG_EXPORTER_PORT" \
  --extend.query-path="$ROOT/prometheus/postgres_exporter/queries.yaml"
start alertmanager prometheus-alertmanager --config.file="$DEMO_DIR/alertmanager.yml" \
  --storage.path="$DEMO_DIR/alertmanager-data" --web.listen-address="$HOST:$ALERTMANAGER_PORT" \
  --web.external-url="http://$HOST:$ALERTMANAGER_PORT" --cluster.listen-address=
wait_http simulator "http://$HOST:$SIMULATOR_PORT/-/healthy" 60
start exporter "$BIN/escrow-exporter" run --config "$ROOT/examples/demo-config.yml" \
  --web.listen-address "$HOST:$EXPORTER_PORT"
start prometheus prometheus --config.file="$DEMO_DIR/prometheus.yml" \
  --storage.tsdb.path="$DEMO_DIR/prometheus-data" --storage.tsdb.retention.time=7d \
  --web.listen-address="$HOST:$PROMETHEUS_PORT" --web.external-url="http://$HOST:$PROMETHEUS_PORT" \
  --rules.alert.resend-delay=10s # alerts fired before Alertmanager is discovered arrive 10 s later, not 1 min
wait_http sink "http://$HOST:$SINK_PORT/-/healthy" 30
wait_http blackbox "http://$HOST:$BLACKBOX_PORT/-/healthy" 30
wait_http node "http://$HOST:$NODE_PORT/metrics" 30
wait_http postgres_exporter "http://$HOST:$PG_EXPORTER_PORT/metrics" 30
wait_http alertmanager "http://$HOST:$ALERTMANAGER_PORT/-/ready" 30
wait_http exporter "http://$HOST:$EXPORTER_PORT/-/healthy" 60
wait_http prometheus "http://$HOST:$PROMETHEUS_PORT/-/ready" 60

cat <<EOF
demo: up. Logs in $LOGS, notifications Alertmanager sent in $DEMO_DIR/notifications.jsonl
  Prometheus    http://$HOST:$PROMETHEUS_PORT   (alerts: /alerts, targets: /targets)
  Alertmanager  http://$HOST:$ALERTMANAGER_PORT
  exporter      http://$HOST:$EXPORTER_PORT/metrics
  simulator     http://$HOST:$SIMULATOR_PORT   (/_state, /_faults, /_actions)
  blackbox      http://$HOST:$BLACKBOX_PORT
  node_exporter http://$HOST:$NODE_PORT/metrics   postgres_exporter http://$HOST:$PG_EXPORTER_PORT/metrics
  PostgreSQL    postgresql://escrow_reader@$HOST:$PG_PORT/escrow   (ledger written as escrow)
  Grafana is not a Debian package: point yours at Prometheus and import grafana/dashboards/*.json
  (or use docker compose). Stop with Ctrl-C.
demo: ready
EOF

if ((CHECK)); then
  status=0
  "$BIN/python" scripts/demo/check.py --prometheus "http://$HOST:$PROMETHEUS_PORT" \
    --alertmanager "http://$HOST:$ALERTMANAGER_PORT" || status=$?
  cleanup
  exit "$status"
fi

# ---- run until a signal, DEMO_DURATION, or a component dying -------------------------------------------
deadline=$((DURATION > 0 ? SECONDS + DURATION : 0))
while true; do
  for i in "${!NAMES[@]}"; do
    if ! alive "${PIDS[i]}"; then
      tail -20 "$LOGS/${NAMES[i]}.log" >&2 || true
      echo "demo: ${NAMES[i]} stopped unexpectedly (log: $LOGS/${NAMES[i]}.log)" >&2
      cleanup
      exit 1
    fi
  done
  pg_running || { echo "demo: PostgreSQL stopped unexpectedly (log: $PG_ROOT/server.log)" >&2; cleanup; exit 1; }
  if ((deadline && SECONDS >= deadline)); then
    say "DEMO_DURATION=$DURATION reached"
    cleanup
    exit 0
  fi
  sleep 1 &
  SLEEP_PID=$!
  wait $SLEEP_PID || true # returns at once when a signal arrives, so Ctrl-C stops without delay
done
