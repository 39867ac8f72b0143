#!/usr/bin/env bash
# llama.cpp's OpenAI-compatible server (llama-cpp-python from PyPI) on one of
# LimRank's GGUFs, for `limrank rerank --model http://...` and
# `limrank synthesize --backend openai` (docs/remote.md).
#
#   Scripts/llamacpp_server.sh MODEL [PORT]                 serve until Ctrl-C / SIGTERM
#   Scripts/llamacpp_server.sh MODEL [PORT] -- COMMAND...   serve while COMMAND runs
#
# MODEL: smollm2, gemma3 (the names `limrank models list` shows) or a .gguf path.
# PORT: default 8080. Prints "ready http://127.0.0.1:PORT/v1#NAME" on stdout
# once the model answers; with a COMMAND, that command sees the same URL in
# $LLAMACPP_URL, and the script exits with its status. The server is stopped
# when the script exits, however it exits. Server log: $LLAMACPP_LOG
# (default a temporary file, printed on failure).
#
# Install the server (this CPU's flags; see docs/remote.md):
#   CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX512=ON" pip install 'llama-cpp-python[server]'
#
# Environment: N_CTX (context per request, default 4096), THREADS (default 2),
# READY_TIMEOUT (seconds, default 180), LIMRANK_MODELS (the model cache),
# LLAMACPP_VANILLA=1 (no echo fix, see Scripts/llamacpp_server.py),
# LLAMACPP_STOP_ON_EOF=1 (stop when stdin closes).
set -euo pipefail

if [ $# -lt 1 ]; then
    sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
fi
MODEL=$1
shift
PORT=8080
if [ $# -gt 0 ] && [ "$1" != "--" ]; then
    PORT=$1
    shift
fi
if [ $# -gt 0 ]; then
    [ "$1" = "--" ] || { echo "llamacpp_server.sh: expected -- before the command, got '$1'" >&2; exit 2; }
    shift
fi

MODELS=${LIMRANK_MODELS:-$HOME/.cache/limrank/models}
# The same files as Sources/Models/ModelStore.swift's registry.
case "$MODEL" in
    smollm2) GGUF=$MODELS/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf ;;
    gemma3) GGUF=$MODELS/gemma3/gemma-3-270m-q4_k_m.gguf ;;
    *.gguf) GGUF=$MODEL ;;
    *) echo "llamacpp_server.sh: unknown model '$MODEL' (smollm2, gemma3 or a .gguf path)" >&2; exit 2 ;;
esac
[ -f "$GGUF" ] || { echo "llamacpp_server.sh: $GGUF not found (run Scripts/setup.sh or limrank models fetch $MODEL)" >&2; exit 1; }
NAME=$(basename "$GGUF" .gguf)
[ "$MODEL" = "$GGUF" ] || NAME=$MODEL

python3 -c 'import llama_cpp.server' 2>/dev/null || {
    echo "llamacpp_server.sh: python3 cannot import llama_cpp.server; install it with" >&2
    echo "  CMAKE_ARGS=\"-DGGML_NATIVE=OFF -DGGML_AVX512=ON\" pip install 'llama-cpp-python[server]'" >&2
    exit 1
}

LOG=${LLAMACPP_LOG:-$(mktemp -t llamacpp-server.XXXXXX)}
THREADS=${THREADS:-2}
# --logits_all true keeps the logits of every prompt position, which
# /v1/completions needs to answer `echo` with the prompt's log-probabilities
# (LimRank's exact score for an answer outside the top 20); it is the
# default in llama-cpp-python 0.3 and said here so an older default cannot
# silently drop it. --model_alias: the name /v1/models reports (the server
# serves its one model whatever name a request gives).
# Scripts/llamacpp_server.py is `python3 -m llama_cpp.server` with echo
# log-probabilities fixed for GGUFs without BOS (SmolLM2); LLAMACPP_VANILLA=1
# starts the package's server as it is.
SERVER_MAIN=("$(dirname "$0")/llamacpp_server.py")
[ "${LLAMACPP_VANILLA:-0}" = 1 ] && SERVER_MAIN=(-m llama_cpp.server)
python3 "${SERVER_MAIN[@]}" --model "$GGUF" --model_alias "$NAME" --host 127.0.0.1 --port "$PORT" \
    --n_ctx "${N_CTX:-4096}" --n_threads "$THREADS" --n_threads_batch "$THREADS" \
    --logits_all true >"$LOG" 2>&1 &
SERVER=$!
stop() {
    # A parent may have blocked SIGTERM in us and the server (Foundation's
    # Process does), so a server still there after 5 s is killed.
    kill "$SERVER" 2>/dev/null || true
    for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$SERVER" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$SERVER" 2>/dev/null || true
    wait "$SERVER" 2>/dev/null || true
    [ -n "${LLAMACPP_LOG:-}" ] || rm -f "$LOG"
}
trap stop EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

URL=http://127.0.0.1:$PORT/v1
deadline=$((SECONDS + ${READY_TIMEOUT:-180}))
# Ready when the model has loaded and answers a one-token completion.
until curl -sf -o /dev/null --max-time 30 -H 'Content-Type: application/json' \
        -d '{"prompt":"a","max_tokens":1}' "$URL/completions"; do
    if ! kill -0 "$SERVER" 2>/dev/null; then
        echo "llamacpp_server.sh: the server exited; its log ($LOG):" >&2
        tail -n 30 "$LOG" >&2
        exit 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
        echo "llamacpp_server.sh: not ready after ${READY_TIMEOUT:-180}s; its log ($LOG):" >&2
        tail -n 30 "$LOG" >&2
        exit 1
    fi
    sleep 0.5
done
echo "ready $URL#$NAME"

if [ $# -gt 0 ]; then
    status=0
    LLAMACPP_URL="$URL#$NAME" "$@" || status=$?
    exit "$status"
fi
# LLAMACPP_STOP_ON_EOF=1: stop when stdin closes (for callers whose
# signals the script may not see, such as the Swift tests).
if [ "${LLAMACPP_STOP_ON_EOF:-0}" = 1 ]; then
    cat >/dev/null
    exit 0
fi
# Wait in the background so SIGTERM reaches the trap at once.
wait "$SERVER" || {
    status=$?
    [ "$status" -ge 128 ] && exit "$status"
    echo "llamacpp_server.sh: the server exited ($status); its log ($LOG):" >&2
    tail -n 30 "$LOG" >&2
    exit "$status"
}
