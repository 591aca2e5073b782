#!/usr/bin/env bash
# Prints the path of a working CPython 3.10 interpreter, or explains what to install and exits 1.
# Lava (lava-nc 0.10 / lava-dl 0.6) runs on CPython 3.10 only.
set -u
works() { "$@" -c 'import sys, venv; assert sys.version_info[:2] == (3, 10); print(sys.executable)' 2>/dev/null; }
# 1. An explicit choice wins.
if [ -n "${PYTHON310:-}" ]; then works "$PYTHON310" && exit 0; echo "PYTHON310=$PYTHON310 is not a working CPython 3.10" >&2; exit 1; fi
# 2. python3.10 on PATH (a pyenv shim may refuse to run unless 3.10 is selected, so this can fail).
works python3.10 && exit 0
# 3. pyenv: any installed 3.10.x, newest first.
if command -v pyenv >/dev/null 2>&1; then
  for v in $(pyenv versions --bare 2>/dev/null | grep -E '^3\.10(\.[0-9]+)?$' | sort -t. -k3 -n -r); do
    works "$(pyenv root)/versions/$v/bin/python3.10" && exit 0
  done
fi
# 4. Common install locations (python.org, Homebrew, deadsnakes, uv).
for p in /usr/bin/python3.10 /usr/local/bin/python3.10 /opt/homebrew/bin/python3.10 \
         "$HOME"/.local/share/uv/python/cpython-3.10*/bin/python3.10; do
  [ -x "$p" ] && works "$p" && exit 0
done
# 5. The default python3 may itself be 3.10.
works python3 && exit 0
cat >&2 <<'MSG'
error: no CPython 3.10 found. tnas-deploy needs Python 3.10 because Lava (lava-nc 0.10, lava-dl 0.6) supports no other version.
Install one of:
  - pyenv:      pyenv install 3.10
  - Debian/Ubuntu: apt install python3.10 python3.10-venv   (deadsnakes PPA on Ubuntu)
  - macOS:      brew install python@3.10
  - uv:         uv python install 3.10
or point to one explicitly: make PYTHON310=/path/to/python3.10 demo
MSG
exit 1
