#!/usr/bin/env python3
"""Writes test/models/spm-t5/tokenizer.json: a real SentencePiece Unigram model trained here with SentencePiece's own
`nmt_nfkc` normalization rule (the table T5, mT5 and XLM-R were trained with), converted the way transformers'
T5Converter writes tokenizer.json: the model proto's `normalizer_spec.precompiled_charsmap` as a Precompiled
normalizer followed by Replace(" {2,}" → " "), a Metaspace (▁, prepend always) pre-tokenizer and decoder, the
Unigram pieces with their scores, `$A </s>` as the template, and T5's special ids (pad 0, eos 1, unk 2).

Text: the Jargon File 4.4.7 from Debian's `jargon-text` package (public domain). Deterministic: one thread, no
sentence sampling; re-running writes a byte-identical file. Needs Debian's python3-sentencepiece at /usr/bin/python3.
Usage: make_spm_t5.py JARGON_TXT_GZ OUT_DIR   (make_spm_t5.sh fetches the package and runs this)
"""
import base64
import gzip
import io
import json
import os
import sys
import tempfile

import sentencepiece as spm
from sentencepiece import sentencepiece_model_pb2 as model_pb2

VOCAB_SIZE = 1000


def train(text_path):
    """Trains the Unigram model; returns the parsed ModelProto."""
    out = io.BytesIO()
    spm.SentencePieceTrainer.train(
        input=text_path, model_writer=out, vocab_size=VOCAB_SIZE, model_type='unigram',
        normalization_rule_name='nmt_nfkc', character_coverage=1.0, num_threads=1,
        pad_id=0, eos_id=1, unk_id=2, bos_id=-1, minloglevel=2)
    proto = model_pb2.ModelProto()
    proto.ParseFromString(out.getvalue())
    return proto


def added(i, content):
    return {"id": i, "content": content, "single_word": False, "lstrip": False, "rstrip": False,
            "normalized": False, "special": True}


def tokenizer_json(proto):
    """The tokenizer.json T5Converter writes for this proto."""
    charsmap = base64.b64encode(proto.normalizer_spec.precompiled_charsmap).decode('ascii')
    vocab = [[p.piece, p.score] for p in proto.pieces]
    specials = [(i, p.piece) for i, p in enumerate(proto.pieces) if p.type in (model_pb2.ModelProto.SentencePiece.CONTROL,
                                                                             model_pb2.ModelProto.SentencePiece.UNKNOWN)]
    metaspace = {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True}
    eos = proto.pieces[proto.trainer_spec.eos_id].piece
    return {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [added(i, s) for i, s in specials],
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Precompiled", "precompiled_charsmap": charsmap},
            {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "}]},
        "pre_tokenizer": metaspace,
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": eos, "type_id": 0}}],
            "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": eos, "type_id": 0}},
                     {"Sequence": {"id": "B", "type_id": 0}}, {"SpecialToken": {"id": eos, "type_id": 0}}],
            "special_tokens": {eos: {"id": eos, "ids": [proto.trainer_spec.eos_id], "tokens": [eos]}},
        },
        "decoder": metaspace,
        "model": {"type": "Unigram", "unk_id": proto.trainer_spec.unk_id, "vocab": vocab, "byte_fallback": False},
    }


def main():
    src, out_dir = sys.argv[1], sys.argv[2]
    with tempfile.TemporaryDirectory() as tmp:
        text = os.path.join(tmp, 'jargon.txt')
        with gzip.open(src, 'rb') as f, open(text, 'wb') as g:
            g.write(f.read())
        proto = train(text)
    assert proto.normalizer_spec.name == 'nmt_nfkc' and proto.normalizer_spec.precompiled_charsmap
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, 'tokenizer.json'), 'w', encoding='utf-8') as f:
        json.dump(tokenizer_json(proto), f, ensure_ascii=False, separators=(',', ':'))
        f.write('\n')
    print(f'spm-t5: {len(proto.pieces)} pieces, charsmap {len(proto.normalizer_spec.precompiled_charsmap)} bytes')


if __name__ == '__main__':
    main()
