#!/usr/bin/env bash
# The embedding service under load (issue 30): `nodefusion serve` against sentence-transformers
# behind FastAPI + uvicorn (benches/serve/st_server.py) and against Infinity (infinity-emb),
# the same model, the same texts, one server at a time on this machine, in one run. The load
# generator (benches/serve/load.rs) drives each through the same OpenAI API; figures go to
# $NODEFUSION_BENCH_DIR/serve.jsonl (default /tmp/nodefusion-bench) and the tables of
# BENCHMARKS.md are printed at the end (benches/serve/report.py).
#
#   benches/serve/run.sh [--setup] [--quick] [--only SYSTEM]...
#
# --setup   creates the peers' environments under $NODEFUSION_SERVE_BENCH_VENVS (default
#           target/serve-bench): st (requirements-st.txt) and infinity (requirements-infinity.txt)
# --quick   8 texts per request, 500 characters, 1/8/64 clients, 5 s windows
# --only    nodefusion | sentence-transformers | infinity (repeatable)
set -euo pipefail
cd "$(dirname "$0")/../.."

venvs=$(realpath -m "${NODEFUSION_SERVE_BENCH_VENVS:-target/serve-bench}")
bench_dir="${NODEFUSION_BENCH_DIR:-/tmp/nodefusion-bench}"
quick=false
only=()
while [ $# -gt 0 ]; do
    case "$1" in
        --setup)
            mkdir -p "$venvs"
            for peer in st infinity; do
                python3 -m venv "$venvs/$peer"
                "$venvs/$peer/bin/pip" install --quiet --progress-bar off \
                    -r "benches/serve/requirements-$peer.txt"
            done
            ;;
        --quick) quick=true ;;
        --only) only+=("$2"); shift ;;
        *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
mkdir -p "$bench_dir"
for peer in st infinity; do
    if [ ! -x "$venvs/$peer/bin/python" ]; then
        echo "no environment at $venvs/$peer: run with --setup" >&2
        exit 1
    fi
done

# One release build (the bench profile) of the load generator and the nodefusion binary.
read -r load nodefusion <<<"$(benches/shared/bench_executables.sh serve_load)"
model=sentence-transformers/all-MiniLM-L6-v2
directory=$("$nodefusion" model pull "$model" | sed 's/^[^:]*: //')

if $quick; then
    grid=(--closed 1,8,64 --texts 8 --chars 500 --seconds 5)
    open=(--rates 2,8 --texts 8 --chars 500 --seconds 10)
else
    grid=(--closed 1,8,64 --texts 1,8,32 --chars 500,2000 --seconds 10)
    open=(--rates 1,2,4,8 --texts 8 --chars 500 --seconds 20)
fi
results="$bench_dir/serve.jsonl"
: >"$results"
port=18080

# Starts a server with the command after `--`, waits until GET $2 answers 200, runs the
# load generator against its embeddings URL $3 as system $1, stops the server.
measure() {
    local system=$1 ready=$2 url=$3
    shift 4
    if [ ${#only[@]} -gt 0 ] && [[ ! " ${only[*]} " == *" $system "* ]]; then
        return
    fi
    echo "== $system (load average $(cut -d' ' -f1-3 /proc/loadavg))" >&2
    "$@" >"$bench_dir/serve-$system.log" 2>&1 &
    local server=$!
    until curl -sf "$ready" >/dev/null; do
        if ! kill -0 "$server" 2>/dev/null; then
            echo "$system stopped; its log: $bench_dir/serve-$system.log" >&2
            exit 1
        fi
        sleep 1
    done
    "$load" --url "$url" --system "$system" --model "$model" "${grid[@]}" | tee -a "$results"
    "$load" --url "$url" --system "$system" --model "$model" "${open[@]}" | tee -a "$results"
    kill -TERM "$server"
    wait "$server" || true
}

base="http://127.0.0.1:$port"
measure nodefusion "$base/ready" "$base/v1/embeddings" -- \
    "$nodefusion" serve --model "$model" --bind "127.0.0.1:$port"
measure sentence-transformers "$base/health" "$base/v1/embeddings" -- \
    "$venvs/st/bin/python" benches/serve/st_server.py "$directory" "$port"
# Infinity on its torch engine (sentence-transformers), the faster of the two CPU engines
# that install here (optimum, ONNX Runtime, was measured 2-4x slower: BENCHMARKS.md), its
# default batch size, telemetry off.
measure infinity "$base/health" "$base/embeddings" -- \
    env DO_NOT_TRACK=1 INFINITY_ANONYMOUS_USAGE_STATS=0 \
    "$venvs/infinity/bin/infinity_emb" v2 --model-id "$directory" --served-model-name "$model" \
    --engine torch --device cpu --port "$port"

python3 benches/serve/report.py "$results"
