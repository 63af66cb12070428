#!/usr/bin/env python3
"""Build the training corpus from Debian packages whose text we may redistribute.

Sources (see MODEL_CARD.md for licences):
  python3.11-doc        reST sources of the Python 3.11 documentation (PSF licence)
  jargon-text           the Jargon File 4.4.7 (public domain)
  libpython3.11-minimal / libpython3.11-stdlib   Python standard library sources (PSF licence)

Writes work/corpus/{train,val}.txt. Documents are separated by a blank line; every 40th document
(in a fixed, sorted order) is held out for validation, so the split is reproducible.
"""
import gzip, os, subprocess, sys, glob

HERE = os.path.dirname(os.path.abspath(__file__))
WORK = os.path.join(HERE, "work")
DEBS = os.path.join(WORK, "debs")
ROOT = os.path.join(WORK, "root")
OUT = os.path.join(WORK, "corpus")
PACKAGES = ["python3.11-doc", "jargon-text", "libpython3.11-minimal", "libpython3.11-stdlib"]


def fetch():
    """Download and unpack the packages (apt-get download needs no root and installs nothing)."""
    os.makedirs(DEBS, exist_ok=True)
    os.makedirs(ROOT, exist_ok=True)
    if not glob.glob(os.path.join(DEBS, "*.deb")):
        subprocess.run(["apt-get", "download", *PACKAGES], cwd=DEBS, check=True)
    for deb in sorted(glob.glob(os.path.join(DEBS, "*.deb"))):
        subprocess.run(["dpkg-deb", "-x", deb, ROOT], check=True)


def documents():
    """Yield (name, text) for every document, in a fixed order."""
    docs = sorted(glob.glob(os.path.join(ROOT, "usr/share/doc/python3.11/html/_sources/**/*.txt"), recursive=True))
    for p in docs:
        yield p, open(p, encoding="utf-8", errors="replace").read()
    jargon = os.path.join(ROOT, "usr/share/doc/jargon-text/jargon.txt.gz")
    text = gzip.open(jargon, "rt", encoding="latin-1").read()
    # The Jargon File is one big file; split it into entries so the split is per document.
    for i, chunk in enumerate(text.split("\n\n\n")):
        if chunk.strip():
            yield f"jargon#{i}", chunk
    for p in sorted(glob.glob(os.path.join(ROOT, "usr/lib/python3.11/**/*.py"), recursive=True)):
        if "/test/" in p or "/site-packages/" in p:
            continue
        yield p, open(p, encoding="utf-8", errors="replace").read()


def main():
    fetch()
    os.makedirs(OUT, exist_ok=True)
    n = {"train": 0, "val": 0}
    with open(os.path.join(OUT, "train.txt"), "w", encoding="utf-8") as tr, \
         open(os.path.join(OUT, "val.txt"), "w", encoding="utf-8") as va:
        for i, (_, text) in enumerate(documents()):
            text = text.replace("\r\n", "\n").strip() + "\n\n"
            split = "val" if i % 40 == 17 else "train"
            (va if split == "val" else tr).write(text)
            n[split] += len(text)
    print(f"corpus: train {n['train']/1e6:.1f}M chars, val {n['val']/1e6:.2f}M chars", file=sys.stderr)


if __name__ == "__main__":
    main()
