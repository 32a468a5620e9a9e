"""Near-duplicate texts across the splits of a detection dataset: MinHash LSH over word n-gram shingles.

A text of validation or test that nearly repeats a train text (or a test text that nearly repeats
a validation text) of its class lets a detector score by memory; :func:`build_detection_dataset`
removes such texts. Candidates come from MinHash LSH (``datasketch``: ``num_perm`` permutations,
seeded; bands chosen by :func:`lsh_bands` so that a pair at the threshold is missed with
probability at most 1e-6, less above it); each candidate pair is then confirmed by the exact
Jaccard similarity of the two shingle sets, so a text is removed only when an exact Jaccard of
at least ``threshold`` with a kept text was found (no false positives).

Shingles are the word ``n``-grams of the stored (canonical) text, split on whitespace; a text with
fewer than ``n`` words has one shingle, the whole text.

Cost (one busy CPU core, 25-word texts): indexing 100,000 texts took 33 s and 1.3 GB
(datasketch keeps one set per band and text), a query about 0.15 ms.
"""

from __future__ import annotations

from typing import Hashable, Iterable, Sequence

from ..errors import TextganError

DEFAULT_THRESHOLD = 0.8
DEFAULT_SHINGLE = 3
DEFAULT_NUM_PERM = 128
MAX_MISS = 1e-6  # LSH bands are chosen so that a pair AT the threshold is missed with at most this probability


def lsh_bands(threshold: float, num_perm: int = DEFAULT_NUM_PERM, max_miss: float = MAX_MISS) -> tuple[int, int]:
    """LSH bands ``(b, r)`` (``b`` bands of ``r`` rows, ``b * r <= num_perm``) for high recall at ``threshold``.

    A pair of Jaccard similarity J shares a band with probability ``1 - (1 - J**r)**b``; the largest
    ``r`` (fewest candidates) whose chance of missing a pair at J = ``threshold`` is at most
    ``max_miss`` is taken (``r = 1`` if none is). Candidates below the threshold cost only their
    exact check. 128 permutations: threshold 0.8 -> 32 bands of 4 (miss 5e-8 at 0.8, 1e-12 at 0.9).
    """
    best = (num_perm, 1)
    for r in range(1, num_perm + 1):
        b = num_perm // r
        if (1 - threshold ** r) ** b <= max_miss:
            best = (b, r)
    return best


def shingles(text: str, n: int = DEFAULT_SHINGLE) -> frozenset[str]:
    """The word ``n``-grams of ``text`` (whitespace words, joined by single spaces)."""
    words = text.split()
    if len(words) <= n:
        return frozenset([" ".join(words)])
    return frozenset(" ".join(words[i:i + n]) for i in range(len(words) - n + 1))


def jaccard(a: frozenset | set, b: frozenset | set) -> float:
    """The exact Jaccard similarity of two sets (1.0 for two empty sets)."""
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def check_threshold(threshold: float | str | None) -> float | None:
    """``None``, ``0`` or ``"none"`` -> ``None`` (removal off); otherwise a number in (0, 1]."""
    if threshold is None or (isinstance(threshold, str) and threshold.strip().lower() in ("none", "off", "0", "0.0")):
        return None
    try:
        value = float(threshold)
    except (TypeError, ValueError):
        raise TextganError(f"near-duplicate threshold must be a Jaccard similarity in (0, 1] or none, got {threshold!r}: "
                           "e.g. --near-dup-threshold 0.8") from None
    if value == 0:
        return None
    if not 0 < value <= 1:
        raise TextganError(f"near-duplicate threshold must be a Jaccard similarity in (0, 1] or none, got {value}: "
                           "e.g. --near-dup-threshold 0.8")
    return value


class NearDupIndex:
    """Texts indexed for near-duplicate queries (MinHash LSH candidates confirmed by exact Jaccard).

    Args:
        threshold: Jaccard similarity of the shingle sets at or above which two texts are near duplicates.
        shingle: words per shingle.
        num_perm: MinHash permutations.
        seed: MinHash seed (the permutations).
    """

    def __init__(self, threshold: float = DEFAULT_THRESHOLD, shingle: int = DEFAULT_SHINGLE,
                 num_perm: int = DEFAULT_NUM_PERM, seed: int = 0) -> None:
        from datasketch import MinHash, MinHashLSH

        if not 0 < threshold <= 1:
            raise TextganError(f"near-duplicate threshold must be in (0, 1], got {threshold}")
        if shingle < 1 or num_perm < 2:
            raise TextganError(f"near-duplicate shingles need >= 1 word and >= 2 permutations, got {shingle} and {num_perm}")
        self.threshold, self.shingle, self.num_perm, self.seed = threshold, shingle, num_perm, seed
        # One MinHash draws the permutations; every other one is a copy of it (MinHash(seed) would draw them anew).
        self._template = MinHash(num_perm=num_perm, seed=seed)
        self.bands = lsh_bands(threshold, num_perm)
        self._lsh = MinHashLSH(num_perm=num_perm, params=self.bands)
        self._texts: dict[Hashable, str] = {}  # the texts, not their shingle sets (a third of the memory)

    def _minhash(self, sh: frozenset[str]):
        m = self._template.copy()  # an empty MinHash with the template's permutations
        m.update_batch([s.encode("utf-8") for s in sh])
        return m

    def __len__(self) -> int:
        return len(self._texts)

    def add(self, key: Hashable, text: str) -> None:
        """Index ``text`` under ``key`` (a new key)."""
        if key in self._texts:
            raise ValueError(f"key {key!r} is already indexed")
        self._texts[key] = text
        self._lsh.insert(key, self._minhash(shingles(text, self.shingle)))

    def add_many(self, items: Iterable[tuple[Hashable, str]]) -> None:
        for key, text in items:
            self.add(key, text)

    def matches(self, text: str) -> list[tuple[Hashable, float]]:
        """Indexed texts whose exact Jaccard with ``text`` is at least the threshold, among LSH's candidates."""
        if not self._texts:
            return []
        sh = shingles(text, self.shingle)
        found = []
        for key in self._lsh.query(self._minhash(sh)):
            j = jaccard(sh, shingles(self._texts[key], self.shingle))
            if j >= self.threshold:
                found.append((key, j))
        return sorted(found, key=lambda kj: (-kj[1], str(kj[0])))

    def is_near_duplicate(self, text: str) -> bool:
        return bool(self.matches(text))

    def describe(self) -> dict:
        return {"method": "MinHash LSH (datasketch) candidates, confirmed by exact Jaccard of the shingle sets",
                "threshold": self.threshold, "shingles": f"word {self.shingle}-grams", "shingle_words": self.shingle,
                "num_perm": self.num_perm, "seed": self.seed, "lsh_bands": self.bands[0], "lsh_rows": self.bands[1],
                "lsh_miss_at_threshold": float(f"{(1 - self.threshold ** self.bands[1]) ** self.bands[0]:.2g}")}


def near_duplicate_pairs(queries: Sequence[str], indexed: Sequence[str], threshold: float = DEFAULT_THRESHOLD,
                         shingle: int = DEFAULT_SHINGLE, num_perm: int = DEFAULT_NUM_PERM,
                         seed: int = 0) -> set[tuple[int, int]]:
    """Pairs ``(i, j)``: ``queries[i]`` is a near duplicate of ``indexed[j]`` (found by :class:`NearDupIndex`)."""
    index = NearDupIndex(threshold, shingle, num_perm, seed)
    index.add_many(enumerate(indexed))
    return {(i, j) for i, q in enumerate(queries) for j, _ in index.matches(q)}


def exact_near_duplicate_pairs(queries: Sequence[str], indexed: Sequence[str], threshold: float = DEFAULT_THRESHOLD,
                               shingle: int = DEFAULT_SHINGLE) -> set[tuple[int, int]]:
    """The same pairs by brute force (every pair's exact Jaccard): the reference for :func:`near_duplicate_pairs`."""
    a = [shingles(t, shingle) for t in queries]
    b = [shingles(t, shingle) for t in indexed]
    return {(i, j) for i, x in enumerate(a) for j, y in enumerate(b) if jaccard(x, y) >= threshold}
