# Sourced: create .venv with Python 3.11+ and install PrivacyOps into it (quietly, once).
PYTHON="${PYTHON:-python3}"
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "PrivacyOps needs Python 3.11 or newer; '$PYTHON' is $("$PYTHON" --version 2>&1). Set PYTHON=/path/to/python3.11." >&2
  exit 1
fi
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
PY="$PWD/.venv/bin/python"
_stamp=".venv/.installed-$1-$(cat pyproject.toml | "$PY" -c 'import hashlib,sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest()[:12])')"
if [ ! -f "$_stamp" ]; then
  echo "Installing PrivacyOps ($1) into .venv…"
  _pip() {  # quiet, but keep real errors; drop notes about local package indexes that are absent
    local out status=0
    out=$("$PY" -m pip install -q --disable-pip-version-check "$@" 2>&1) || status=$?
    printf '%s\n' "$out" | grep -v -e "^WARNING: Location" -e '^$' || true
    return "$status"
  }
  _pip --upgrade pip
  case "$1" in  # dev: everything for the tests; demo: what `privacyops demo` needs too
    dev) _pip -e ".[dev]" ;;
    demo) _pip -e ".[demo]" ;;
    *) _pip -e . ;;
  esac
  touch "$_stamp"
fi
