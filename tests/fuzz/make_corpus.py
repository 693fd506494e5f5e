#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_engine (tests/fuzz/corpus/): programs in the harness's format
(fuzz_engine.cpp: an operation byte, then its arguments), one theme each, so the bounded run starts
from inputs that reach every operation. Deterministic: running it again writes the same files."""
import hashlib
import pathlib
import random

MALLOC, CALLOC, ALIGNED, REALLOC, FREE, CROSS, MPOOL, VPOOL, SCOPE, LIMIT, MAINT, USABLE, SNAPSHOT, MISUSE = (
    0, 2, 3, 4, 5, 7, 8, 9, 10, 11, 12, 13, 14, 15)


def size(rng, kind):
    """pick_size's three bytes: the kind byte's range chooses small, pool, large, near huge, huge."""
    first = {"small": (0, 127), "pool": (128, 199), "large": (200, 249), "edge": (250, 253), "huge": (254, 255)}[kind]
    return [rng.randint(*first), rng.randint(0, 255), rng.randint(0, 255)]


def op(rng, code, kinds):
    kind = rng.choice(kinds)
    args = {
        MALLOC: lambda: size(rng, kind),
        CALLOC: lambda: [rng.randint(0, 255)] + size(rng, kind),
        ALIGNED: lambda: [rng.randint(0, 255)] + size(rng, kind),
        REALLOC: lambda: [rng.randint(0, 255)] + size(rng, kind),
        FREE: lambda: [rng.randint(0, 255)],
        CROSS: lambda: [rng.randint(0, 255) for _ in range(2)] + [rng.randint(0, 255) for _ in range(16)] + size(rng, kind) * 4,
        MPOOL: lambda: [rng.randint(0, 255) for _ in range(3)],
        VPOOL: lambda: [rng.randint(0, 255)] + size(rng, kind) + [rng.randint(0, 255)],
        SCOPE: lambda: [rng.randint(0, 255)],
        LIMIT: lambda: [rng.randint(0, 255) for _ in range(2)],
        MAINT: lambda: [rng.randint(0, 255) for _ in range(3)],
        USABLE: lambda: [rng.randint(0, 255)],
        SNAPSHOT: lambda: [],
        MISUSE: lambda: [rng.randint(0, 255) for _ in range(3)],
    }[code]()
    return [code] + args


THEMES = {
    "small": ([MALLOC, MALLOC, FREE, CALLOC, USABLE], ["small", "pool"]),
    "realloc": ([MALLOC, REALLOC, REALLOC, FREE], ["small", "pool", "large"]),
    "aligned": ([ALIGNED, ALIGNED, FREE, USABLE], ["small", "pool", "large"]),
    "large": ([MALLOC, REALLOC, FREE, CALLOC], ["large", "edge"]),
    "huge": ([MALLOC, REALLOC, FREE, MAINT], ["edge", "huge", "large"]),
    "cross_thread": ([MALLOC, CROSS, MALLOC, FREE], ["small", "pool", "large"]),
    "memory_pool": ([MPOOL, MPOOL, MPOOL, FREE, CROSS], ["small"]),
    "variable_pool": ([VPOOL, VPOOL, VPOOL, FREE, CROSS], ["small", "pool", "large"]),
    "scopes": ([SCOPE, MALLOC, REALLOC, FREE, SNAPSHOT], ["small", "pool", "large"]),
    "limits": ([LIMIT, MALLOC, MALLOC, FREE, MAINT], ["pool", "large", "edge"]),
    "maintenance": ([MAINT, MALLOC, FREE, MPOOL, VPOOL], ["small", "pool"]),
    "misuse": ([MALLOC, MISUSE, MPOOL, VPOOL, MISUSE, FREE], ["small", "pool", "large"]),
    "everything": ([MALLOC, CALLOC, ALIGNED, REALLOC, FREE, CROSS, MPOOL, VPOOL, SCOPE, LIMIT, MAINT, USABLE, SNAPSHOT,
                    MISUSE],
                   ["small", "pool", "large", "edge"]),
}


def main():
    out = pathlib.Path(__file__).resolve().parent / "corpus"
    out.mkdir(exist_ok=True)
    for old in out.iterdir():
        old.unlink()
    for theme, (codes, kinds) in THEMES.items():
        for variant in range(3):
            rng = random.Random(f"{theme}/{variant}")
            data = []
            for _ in range(rng.randint(8, 40)):
                data += op(rng, rng.choice(codes), kinds)
            name = f"{theme}-{variant}-{hashlib.sha1(bytes(data)).hexdigest()[:8]}"
            (out / name).write_bytes(bytes(data))


if __name__ == "__main__":
    main()
