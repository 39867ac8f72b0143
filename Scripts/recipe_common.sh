# Sourced by the recipes (Scripts/recipe.sh, Scripts/recipe_adapt.sh) after
# they set STEPS and QUERIES: the limrank binary (LIMRANK_BIN, else a release
# build), `L` to run it with the command echoed on stderr, and the step and
# query limits as argument arrays.
if [[ -z "${LIMRANK_BIN:-}" ]]; then
  swift build -c release --product limrank >&2
  LIMRANK_BIN=$(swift build -c release --show-bin-path)/limrank
fi
L() { echo "+ limrank $*" >&2; "$LIMRANK_BIN" "$@"; }
steps=(); [[ -n "$STEPS" ]] && steps=(--max-steps "$STEPS")
queries=(); [[ -n "$QUERIES" ]] && queries=(--max-queries "$QUERIES")
resume() { [[ -d "$1/checkpoints" ]] && echo --resume || true; }
