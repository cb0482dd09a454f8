# Sourced by the other scripts: make .venv and install sitegen into it when pyproject changes.
# Usage: . scripts/_venv.sh [EXTRA]   (EXTRA: "dev" for the test tools)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON=${PYTHON:-python3}
extra=${1:-}
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "sitegen needs Python 3.11 or newer; $PYTHON is $("$PYTHON" -V 2>&1)" >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  echo "creating .venv" >&2
  "$PYTHON" -m venv .venv
fi
# Reinstall only when the dependencies (or the extra asked for) changed since the last install.
stamp=".venv/.sitegen-installed-$extra"
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "installing sitegen${extra:+[$extra]} into .venv (first time takes a minute)" >&2
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e ".${extra:+[$extra]}"
  echo "$want" > "$stamp"
fi
