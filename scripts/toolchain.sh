# Sourced by scripts/localstack.sh and scripts/preflight.sh, so both find LocalStack's tools the
# same way. The caller defines die (print a message, exit non-zero); in $(...) it ends only that.

# LocalStack looks for Java under java/21; DynamoDB Local itself needs Java 17 or newer.
JAVA_MIN_MAJOR=17

# A Python 3.13 interpreter: LOCALSTACK_PYTHON, python3.13 on PATH, or the newest pyenv 3.13.
find_python() {
  if [[ -n "${LOCALSTACK_PYTHON:-}" ]]; then
    "$LOCALSTACK_PYTHON" -c 'import sys; assert sys.version_info[:2] == (3, 13)' 2>/dev/null \
      || die "LOCALSTACK_PYTHON='$LOCALSTACK_PYTHON' is not a working Python 3.13"
    printf '%s\n' "$LOCALSTACK_PYTHON"
    return
  fi
  # A pyenv shim exists even when 3.13 is not the selected version, so try it before trusting it.
  if python3.13 -c 'import sys' >/dev/null 2>&1; then
    command -v python3.13
    return
  fi
  if command -v pyenv >/dev/null 2>&1; then
    local candidate
    candidate="$(printf '%s\n' "$(pyenv root)"/versions/3.13*/bin/python3.13 | sort -V | tail -n 1)"
    if [[ -x "$candidate" ]]; then
      printf '%s\n' "$candidate"
      return
    fi
  fi
  die "Python 3.13 not found (LocalStack 2026.3.0 runs on 3.13): install it, or set LOCALSTACK_PYTHON"
}

# JAVA_HOME of the java on PATH, which must be Java 17 or newer.
find_java_home() {
  local java major
  java="$(command -v java)" || die "java not found on PATH (DynamoDB Local needs Java $JAVA_MIN_MAJOR or newer)"
  java="$(readlink -f "$java")"
  major="$("$java" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java\.specification\.version = //p')"
  [[ "$major" =~ ^[0-9]+$ ]] && ((major >= JAVA_MIN_MAJOR)) \
    || die "$java is Java '${major:-unknown}'; DynamoDB Local needs Java $JAVA_MIN_MAJOR or newer"
  dirname "$(dirname "$java")"
}
