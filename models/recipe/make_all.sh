#!/usr/bin/env bash
# Rebuild the bundled default model from scratch: corpus → tokenizer → training → ONNX export →
# reference file → head measurements → model card. Uses Debian's python3-torch (CPU; CUDA if present).
# Usage: bash models/recipe/make_all.sh [training minutes, default 65]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
minutes="${1:-65}"
py=/usr/bin/python3
if ! $py -c 'import torch, onnx, numpy' 2>/dev/null; then
  apt-get install -y --no-install-recommends python3-torch python3-onnx python3-numpy libopenblas0-pthread
fi
[ -d "$repo/node_modules/tokenizers" ] || (cd "$repo" && ONNXRUNTIME_NODE_INSTALL=skip npm ci)
cd "$here"
mkdir -p work
$py build_corpus.py
node train_tokenizer.mjs work/corpus/train.txt work/tokenizer.json 2048
node encode_corpus.mjs work/tokenizer.json work/corpus work
rm -f work/train_log.jsonl
$py train.py --minutes "$minutes"
$py -c "import json, export; json.dump(export.REFERENCE_TEXTS, open('work/reference_texts.json', 'w'))"
node encode_texts.mjs work/tokenizer.json work/reference_ids.json work/reference_texts.json
$py export.py --name lens-gpt
$py measure_heads.py --name lens-gpt
$py measure_onnx_heads.py --name lens-gpt
echo "done: models/lens-gpt (see MODEL_CARD.md)"
