#!/bin/sh
# Rebuilds test/models/spm-t5/tokenizer.json (make_spm_t5.py): fetches Debian's jargon-text package (the Jargon File,
# public domain) and trains a SentencePiece Unigram model on it with the nmt_nfkc rule. Needs
#   apt-get install -y --no-install-recommends python3-sentencepiece
# Run from anywhere: sh test/models/recipe/make_spm_t5.sh
set -e
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d)
cd "$WORK"
apt-get download jargon-text >/dev/null 2>&1
dpkg-deb -x jargon-text_*.deb pkg
/usr/bin/python3 "$HERE/make_spm_t5.py" pkg/usr/share/doc/jargon-text/jargon.txt.gz "$(dirname "$HERE")/spm-t5"
cd / && rm -rf "$WORK"
