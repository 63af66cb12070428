#!/usr/bin/env python3
"""Writes the tokenizer.json files of the test models, laid out the way Hugging Face exports them.

  tiny-bert, tiny-distilbert: WordPiece (BertNormalizer lowercase + accent stripping, BertPreTokenizer,
                              `##` continuation, [CLS] $A [SEP] template)
  tiny-t5:                    Unigram with a Metaspace (▁) pre-tokenizer and a `$A </s>` template
  tiny-gpt2:                  byte-level BPE, a copy of the bundled lens-gpt tokenizer

Vocabularies are small and hand-picked; the test texts avoid nothing (unknown words become [UNK]/<unk>).
Usage: python3 make_tokenizers.py <test/models dir>
"""
import json, math, os, shutil, string, sys

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
REPO = os.path.abspath(os.path.join(OUT, "..", ".."))

WORDS = ("the cat sat on mat because it was tired attention lens shows every token look back at ones before "
         "hello world cafe naive resume def return print add for in range and of to is a an this that with "
         "code line one two tab emoji text model head layer").split()
SUFFIXES = ["s", "ing", "ed", "er", "ly", "tion", "able"]


def added(i, content):
    return {"id": i, "content": content, "single_word": False, "lstrip": False, "rstrip": False,
            "normalized": False, "special": True}


def wordpiece():
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    chars = list(string.ascii_lowercase + string.digits + string.punctuation)
    vocab = specials + chars + ["##" + c for c in string.ascii_lowercase + string.digits] + WORDS + ["##" + s for s in SUFFIXES]
    seen, ordered = set(), []
    for v in vocab:
        if v not in seen:
            seen.add(v); ordered.append(v)
    ids = {v: i for i, v in enumerate(ordered)}
    tok = lambda t: {"id": t, "ids": [ids[t]], "tokens": [t]}
    return {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [added(ids[s], s) for s in specials],
        "normalizer": {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True,
                       "strip_accents": None, "lowercase": True},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                       {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": "[SEP]", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}},
                     {"SpecialToken": {"id": "[SEP]", "type_id": 1}}],
            "special_tokens": {"[CLS]": tok("[CLS]"), "[SEP]": tok("[SEP]")},
        },
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100, "vocab": ids},
    }


def unigram():
    specials = ["<pad>", "</s>", "<unk>"]
    pieces = [(s, 0.0) for s in specials]
    pieces.append(("\u2581", -2.0))
    for w in WORDS:
        pieces.append(("\u2581" + w, -3.0 - 0.1 * len(w)))
        pieces.append(("\u2581" + w.capitalize(), -4.0 - 0.1 * len(w)))
    for s in SUFFIXES:
        pieces.append((s, -5.0))
    for c in string.ascii_letters + string.digits + string.punctuation + "é":
        pieces.append((c, -8.0))
        pieces.append(("\u2581" + c, -9.0))
    seen, ordered = set(), []
    for p, sc in pieces:
        if p not in seen:
            seen.add(p); ordered.append([p, sc])
    return {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [added(i, s) for i, s in enumerate(specials)],
        "normalizer": {"type": "Sequence", "normalizers": [{"type": "NFKC"},
                                                             {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "}]},
        "pre_tokenizer": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "</s>", "type_id": 0}}],
            "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "</s>", "type_id": 0}},
                     {"Sequence": {"id": "B", "type_id": 0}}, {"SpecialToken": {"id": "</s>", "type_id": 0}}],
            "special_tokens": {"</s>": {"id": "</s>", "ids": [1], "tokens": ["</s>"]}},
        },
        "decoder": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True},
        "model": {"type": "Unigram", "unk_id": 2, "vocab": ordered, "byte_fallback": False},
    }


def main():
    for name, tok in (("tiny-bert", wordpiece()), ("tiny-distilbert", wordpiece()), ("tiny-t5", unigram())):
        os.makedirs(os.path.join(OUT, name), exist_ok=True)
        with open(os.path.join(OUT, name, "tokenizer.json"), "w", encoding="utf-8") as f:
            json.dump(tok, f, ensure_ascii=False, indent=1)
    os.makedirs(os.path.join(OUT, "tiny-gpt2"), exist_ok=True)
    shutil.copy(os.path.join(REPO, "models", "lens-gpt", "tokenizer.json"), os.path.join(OUT, "tiny-gpt2", "tokenizer.json"))
    print("tokenizers written")


if __name__ == "__main__":
    main()
