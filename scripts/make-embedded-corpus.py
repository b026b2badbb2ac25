#!/usr/bin/env python3
"""Builds rdarts' embedded text corpus from Jane Austen's "Persuasion" (1817, public domain) as
Debian's r-cran-janeaustenr package ships it (version 1.0.0-1, MIT licence, (c) 2016-2017 Julia
Silge), in the Penn Treebank layout of Mikolov's files: one sentence per line, lower case, words
separated by spaces, no punctuation, numbers as N, words outside the training file's most frequent
VOCAB written <unk>.

    apt-get download r-cran-janeaustenr
    python3 scripts/make-embedded-corpus.py r-cran-janeaustenr_1.0.0-1_all.deb core/data

writes persuasion.{train,valid,test}.txt.gz (the sentences in order, split 80/10/10; gzip without
a time stamp, so the bytes depend only on the package). The package keeps the novels in R's
lazy-load database (data/Rdata.rdb, indexed by data/Rdata.rdx), each a character vector of the
book's lines; the small reader of R's serialisation format below decodes them. Needs Python 3 and
dpkg-deb.
"""
import collections
import gzip
import os
import re
import struct
import subprocess
import sys
import tempfile
import zlib

BOOK = "persuasion"
VOCAB = 2000
SPLIT = (0.8, 0.1)


def unserialize(buf):
    """R's XDR serialisation (format 'X', versions 2 and 3): the types the package's data uses."""
    pos = 0

    def read(n):
        nonlocal pos
        b = buf[pos:pos + n]
        if len(b) != n:
            raise ValueError("truncated R data")
        pos += n
        return b

    def i32():
        return struct.unpack(">i", read(4))[0]

    if read(2) != b"X\n":
        raise ValueError("not R's XDR serialisation")
    version = i32()
    i32(), i32()
    if version == 3:
        read(i32())  # native encoding
    refs = []

    def item():
        flags = i32()
        kind = flags & 0xFF
        has_attr, has_tag = flags & (1 << 9), flags & (1 << 10)
        if kind in (242, 253, 254):  # empty env, global env, NULL
            return None
        if kind == 255:  # reference to an earlier symbol
            index = flags >> 8 or i32()
            return refs[index - 1]
        if kind == 1:  # symbol
            name = item()
            refs.append(name)
            return name
        if kind == 9:  # CHARSXP
            n = i32()
            return None if n == -1 else read(n).decode("utf-8")
        if kind == 2:  # pairlist: (tag, value) pairs
            attr = item() if has_attr else None
            tag = item() if has_tag else None
            head = (tag, item())
            rest = item()
            return [head] + (rest or [])
        if kind == 19:  # list
            values = [item() for _ in range(i32())]
            attr = item() if has_attr else None
            return (values, dict(attr or []))
        if kind == 16:  # character vector
            values = [item() for _ in range(i32())]
            if has_attr:
                item()
            return values
        if kind in (10, 13):  # logical, integer
            n = i32()
            values = list(struct.unpack(">%di" % n, read(4 * n)))
            if has_attr:
                item()
            return values
        raise ValueError("R type %d is not read here" % kind)

    return item()


def books(deb):
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["dpkg-deb", "-x", deb, tmp], check=True)
        data = os.path.join(tmp, "usr/lib/R/site-library/janeaustenr/data")
        index, _ = unserialize(gzip.decompress(open(os.path.join(data, "Rdata.rdx"), "rb").read()))
        variables = index[0]
        names = variables[1]["names"]
        rdb = open(os.path.join(data, "Rdata.rdb"), "rb").read()
        out = {}
        for name, (offset, length) in zip(names, variables[0]):
            blob = rdb[offset:offset + length]
            out[name] = unserialize(zlib.decompress(blob[4:]))
        return out


def sentences(lines):
    """Paragraphs joined, cut after . ! ? ; each sentence's words in lower case."""
    text = " ".join(l.strip() for l in lines if l is not None)
    text = text.replace("\u2019", "'").replace("\u2018", "'")
    out = []
    for s in re.split(r"(?<=[.!?])\s+", text):
        words = []
        for w in re.findall(r"[A-Za-z]+(?:'[A-Za-z]+)?|[0-9]+(?:[.,][0-9]+)*", s):
            if w[0].isdigit():
                words.append("N")
            elif "'" in w:
                a, b = w.split("'", 1)
                words += [a.lower(), "'" + b.lower()]
            else:
                words.append(w.lower())
        if words:
            out.append(words)
    return out


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    deb, out_dir = sys.argv[1], sys.argv[2]
    lines = books(deb)[BOOK]
    # From the first chapter to the end, without the chapter headings and the closing "Finis".
    heading = re.compile(r"\s*Chapter\s+\d+\s*|\s*Finis\s*")
    body = [l for l in lines[lines.index("Chapter 1"):] if not heading.fullmatch(l or "")]
    sents = sentences(body)
    n = len(sents)
    a, b = int(n * SPLIT[0]), int(n * (SPLIT[0] + SPLIT[1]))
    parts = {"train": sents[:a], "valid": sents[a:b], "test": sents[b:]}
    counts = collections.Counter(w for s in parts["train"] for w in s)
    keep = {w for w, _ in counts.most_common(VOCAB - 1)}
    for name, part in parts.items():
        text = "".join(" " + " ".join(w if w in keep else "<unk>" for w in s) + " \n" for s in part)
        path = os.path.join(out_dir, "%s.%s.txt.gz" % (BOOK, name))
        with open(path, "wb") as f:
            with gzip.GzipFile(filename="", mode="wb", fileobj=f, mtime=0, compresslevel=9) as g:
                g.write(text.encode("utf-8"))
        tokens = sum(len(s) + 1 for s in part)
        print("%s: %d sentences, %d tokens, %d bytes gzipped" % (path, len(part), tokens, os.path.getsize(path)))


if __name__ == "__main__":
    main()
