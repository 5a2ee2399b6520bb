#!/usr/bin/env bash
# Create (or reuse) a Python venv with the PyTorch CPU baseline used by
# benches/torch_engine.py, installing benches/requirements-torch.txt from PyPI.
#
# Usage:
#   bash benches/setup_torch.sh                      # venv at target/torchenv
#   TORCH_VENV=/opt/torchenv bash benches/setup_torch.sh
#   PY=$(bash benches/setup_torch.sh | tail -n1) && "$PY" benches/torch_engine.py
#
# Environment:
#   TORCH_VENV       venv directory (default: target/torchenv, relative to the repo root)
#   PYTHON           interpreter used to create the venv (default: python3; needs >= 3.10)
#   TORCH_INDEX_URL  optional extra index for the torch wheel only, e.g.
#                    https://download.pytorch.org/whl/cpu for the ~200 MB CPU-only build
#                    instead of PyPI's CUDA build (~4.5 GB with its nvidia-* dependencies)
#
# Idempotent: when every pinned requirement is already installed at its pinned
# version, nothing is downloaded. The last line of stdout is the venv's python.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
req="$here/requirements-torch.txt"
venv="${TORCH_VENV:-$root/target/torchenv}"
python="${PYTHON:-python3}"

log() { printf '[setup_torch] %s\n' "$*" >&2; }

if [[ ! -x "$venv/bin/python" ]]; then
    log "creating venv at $venv (with $("$python" --version 2>&1))"
    mkdir -p "$(dirname "$venv")"
    "$python" -m venv "$venv"
else
    log "reusing venv at $venv ($("$venv/bin/python" --version 2>&1))"
fi
py="$venv/bin/python"

# Prints the requirements that are missing or installed at another version.
missing() {
    "$py" - "$req" <<'PY'
import re
import sys
from importlib import metadata

for line in open(sys.argv[1]):
    line = line.split("#", 1)[0].strip()
    if not line:
        continue
    m = re.fullmatch(r"([A-Za-z0-9_.\-]+)\s*==\s*([^\s;]+)", line)
    if not m:
        print(line)  # unpinned: let pip decide
        continue
    name, want = m.groups()
    try:
        have = metadata.version(name)
    except metadata.PackageNotFoundError:
        print(line)
        continue
    # A local label (2.15.0+cpu, 2.15.0+cu132) satisfies ==2.15.0, as for pip.
    if have.split("+", 1)[0] != want:
        print(line)
PY
}

todo="$(missing)"
if [[ -z "$todo" ]]; then
    log "all requirements already installed"
else
    log "to install: $(echo "$todo" | tr '\n' ' ')"
    if [[ -n "${TORCH_INDEX_URL:-}" ]] && grep -q '^torch==' <<<"$todo"; then
        torch_pin="$(grep '^torch==' "$req")"
        log "installing $torch_pin from $TORCH_INDEX_URL"
        "$py" -m pip install --disable-pip-version-check --index-url "$TORCH_INDEX_URL" \
            --extra-index-url https://pypi.org/simple "$torch_pin" >&2
    fi
    "$py" -m pip install --disable-pip-version-check -r "$req" >&2
    todo="$(missing)"
    if [[ -n "$todo" ]]; then
        log "still missing after install: $(echo "$todo" | tr '\n' ' ')"
        exit 1
    fi
fi

"$py" -c 'import torch; print(f"torch {torch.__version__}, threads {torch.get_num_threads()}", flush=True)' >&2
echo "$py"
