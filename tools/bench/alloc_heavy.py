"""Allocation-heavy Python workload for the allocator benchmarks.

Run with PYTHONMALLOC=malloc so that every object goes through the C
allocator under test.  Usage: alloc_heavy.py [SCALE]
"""
import random
import sys


class Record:
    __slots__ = ("key", "name", "tags", "score")

    def __init__(self, key, name, tags, score):
        self.key = key
        self.name = name
        self.tags = tags
        self.score = score


class Node:
    def __init__(self, value, children):
        self.value = value
        self.children = children


def build_tree(rng, depth):
    if depth == 0:
        return Node(rng.random(), [])
    return Node(rng.random(), [build_tree(rng, depth - 1) for _ in range(rng.randint(1, 4))])


def tree_sum(node):
    return node.value + sum(tree_sum(c) for c in node.children)


def records(rng, n):
    out = {}
    for i in range(n):
        key = "k%06d" % rng.randrange(n * 2)
        tags = [rng.choice("abcdefgh") * rng.randint(1, 12) for _ in range(rng.randint(0, 5))]
        out[key] = Record(key, "name-" + str(i), tags, rng.random())
    return out


def text_work(rng, n):
    words = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 12)))
             for _ in range(2000)]
    counts = {}
    for _ in range(n):
        line = " ".join(rng.choice(words) for _ in range(rng.randint(4, 20)))
        for w in line.split():
            counts[w] = counts.get(w, 0) + 1
        line.upper().replace("A", "aa")
    return len(counts)


def churn_lists(rng, n):
    total = 0
    for _ in range(n):
        xs = [rng.random() for _ in range(rng.randint(10, 300))]
        ys = sorted(x * 2.0 for x in xs)
        pairs = list(zip(xs, ys))
        total += len({round(a, 2): b for a, b in pairs})
        tuples = [(i, str(i), [i]) for i in range(50)]
        total += len(tuples)
    return total


def main():
    scale = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    rounds = max(1, int(round(9 * scale)))
    rng = random.Random(1234)
    acc = 0.0
    for _ in range(rounds):
        recs = records(rng, 40000)
        acc += sum(r.score for r in recs.values())
        del recs
        acc += text_work(rng, 6000)
        acc += churn_lists(rng, 1500)
        trees = [build_tree(rng, 7) for _ in range(6)]
        acc += sum(tree_sum(t) for t in trees)
        del trees
    print("alloc_heavy rounds=%d checksum=%.3f" % (rounds, acc))


if __name__ == "__main__":
    main()
