#!/bin/sh
# Rebuilds every test model under test/models from scratch (fixed seeds; Debian's torch 1.13 + onnx 1.12
# at /usr/bin/python3, one CPU thread; about 5 s). Run from anywhere: sh test/models/recipe/make_all.sh
set -e
HERE=$(cd "$(dirname "$0")" && pwd)
MODELS=$(dirname "$HERE")
WORK=$(mktemp -d)
/usr/bin/python3 "$HERE/make_tokenizers.py" "$MODELS"
node "$HERE/encode.mjs" "$MODELS" "$WORK/ids.json"
cd "$HERE" && /usr/bin/python3 build.py "$MODELS" "$WORK/ids.json"
/usr/bin/python3 "$HERE/build_fused.py" "$MODELS/tiny-fused/onnx"
/usr/bin/python3 "$HERE/build_bloom.py" "$MODELS/tiny-bloom/onnx"
cd "$HERE" && /usr/bin/python3 build_window.py "$MODELS"
rm -rf "$WORK"
