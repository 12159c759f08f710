"""Distinct real-shaped text at k times a corpus: the band-permutation copies the scale and stress benches build.

Copy 0 is the original text. Copy k maps every Han character through its own seeded permutation *within
bands of ~64 characters of similar corpus frequency*: lengths, punctuation, line structure and which
characters are common all stay, while shingles do not repeat across copies, so the filters keep every
copy and dedupe merges none of them. (A permutation over all Han characters would make common characters
rare, and the `common_han_ratio` filter rightly drops such text.)

    python -m bench.scale_corpus SRC_DIR DEST_DIR --copies 8

writes DEST_DIR/k{copy}_{name} as UTF-8 for every file of SRC_DIR (decoded like ingest decodes it).
"""

from __future__ import annotations

import argparse
import collections
import sys
from pathlib import Path

import numpy as np

from schemas.hashing import stable_hash

BAND = 64


def _is_han(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf"


def han_bands(texts: list[str], band: int = BAND) -> list[list[str]]:
    """Han characters ordered by corpus frequency (then code point), cut into bands of `band`."""
    counts = collections.Counter()
    for text in texts:
        counts.update(ch for ch in text if _is_han(ch))
    ordered = sorted(counts, key=lambda ch: (-counts[ch], ch))
    return [ordered[i:i + band] for i in range(0, len(ordered), band)]


def copy_table(bands: list[list[str]], copy: int) -> dict[int, str]:
    """str.translate table of copy `copy` (empty for copy 0): a seeded permutation inside each band."""
    if copy == 0:
        return {}
    table = {}
    for index, members in enumerate(bands):
        seed = stable_hash(f"scale:{copy}:{index}")
        order = np.random.Generator(np.random.PCG64(seed)).permutation(len(members))
        table.update({ord(src): members[int(dst)] for src, dst in zip(members, order)})
    return table


def _decode(data: bytes) -> str:
    from transforms.ingest.encoding import decode_bytes

    return decode_bytes(data).text


def write_copies(src: Path, dest: Path, copies: int) -> tuple[int, int]:
    """Write `copies` band-permuted copies of every file under `src` into `dest`. Returns (files, bytes)."""
    files = sorted(p for p in src.iterdir() if p.is_file())
    texts = [_decode(p.read_bytes()) for p in files]
    bands = han_bands(texts)
    dest.mkdir(parents=True, exist_ok=True)
    n_files = n_bytes = 0
    for copy in range(copies):
        table = copy_table(bands, copy)
        for path, text in zip(files, texts):
            data = text.translate(table).encode("utf-8")
            (dest / f"k{copy}_{path.name}").write_bytes(data)
            n_files, n_bytes = n_files + 1, n_bytes + len(data)
    return n_files, n_bytes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("src", type=Path, help="folder of novels (e.g. ../shared/corpus/novels)")
    parser.add_argument("dest", type=Path, help="folder to write the copies into")
    parser.add_argument("--copies", type=int, default=8, help="how many copies, the original included")
    args = parser.parse_args(argv)
    n_files, n_bytes = write_copies(args.src, args.dest, args.copies)
    print(f"wrote {n_files} files, {n_bytes / 1e6:.1f} MB to {args.dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
