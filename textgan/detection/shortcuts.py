"""Does a simple feature of the stored rows tell the classes of a detection dataset apart?

A detection benchmark is only as good as its absence of shortcuts: if real texts end with a space
and generated ones do not, or real articles are all 256 tokens long and generated ones stop
anywhere, a detector scores well without reading the text. The check here fits, for each simple
feature of a row (surface features of the stored text, and every column that is neither the text,
the label nor ``meta_*`` provenance), the best single threshold and direction on the train split,
and scores it on the test split. A feature whose test accuracy exceeds a coin's by more than three
binomial standard deviations (``0.5 + 3 * sqrt(0.25 / n_test)``) is a shortcut.

Two kinds of feature. **Form** features are set by how the texts were collected and stored, not by
what they say: white space, length in tokens and characters, the ``<unk>`` and out-of-vocabulary
rates, characters that only one class uses in train (``foreign_chars``) and every column. One of them
above the bound is a **shortcut** and fails the check. **Content** features count what the words are
made of: capitals, punctuation and other non-lowercase characters, distinct characters. A generator
that starts 17 % of its sentences with a stray quote where real sentences start with a capital
differs in them because of what it writes; a detector that uses them reads the text. They are
reported as **content cues** beside the shortcuts and do not fail the check.

``textgan corpus shortcuts DATASET`` prints the table; the detectability report carries it
(``report.json`` ``shortcuts``, a section of ``report.md``); ``tests/test_detection_shortcuts.py``
builds datasets with and without the known shortcuts and checks that this check sees them.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Iterable, Sequence

from ..errors import TextganError
from .dataset import _load_split

SHORTCUTS_FORMAT = "textgan.detection.shortcuts/1"


CONTENT_FEATURES = ("distinct_chars", "non_lowercase_alnum_chars", "uppercase_chars")
"""Features of what a text says (see the module docstring): above chance they are content cues, not shortcuts."""


def text_features(text: str, vocab_words: set[str] | None = None,
                  shared_chars: set[str] | None = None) -> dict[str, float]:
    """Surface features of one stored text; ``oov_rate`` (whitespace tokens outside ``vocab_words``) and
    ``foreign_chars`` (characters outside ``shared_chars``, those both classes use) when given."""
    toks = text.split()
    out = {
        "trailing_whitespace": float(text != text.rstrip()),
        "leading_whitespace": float(text != text.lstrip()),
        "double_space": float("  " in text),
        "chars": float(len(text)),
        "tokens": float(len(toks)),
        "distinct_chars": float(len(set(text))),
        "non_lowercase_alnum_chars": float(sum(not (c.islower() or c.isdigit() or c == " ") for c in text)),
        "uppercase_chars": float(sum(c.isupper() for c in text)),
        "unk_rate": sum(t == "<unk>" for t in toks) / max(len(toks), 1),
    }
    if vocab_words is not None:
        out["oov_rate"] = sum(t not in vocab_words for t in toks) / max(len(toks), 1)
    if shared_chars is not None:
        out["foreign_chars"] = float(sum(c not in shared_chars for c in text))
    return out


def threshold_accuracy(train: Sequence[tuple[float, int]], test: Sequence[tuple[float, int]]) -> float:
    """Test accuracy of the single threshold and direction that are best on ``train`` ((value, label) pairs).

    Candidate thresholds are the midpoints between consecutive distinct train values (and one beyond
    each end); ties keep the first best, so the result does not depend on the order of the rows.
    """
    if not train or not test:
        raise ValueError("threshold_accuracy needs train and test pairs")
    values = sorted({v for v, _ in train})
    cands = [values[0] - 1.0] + [(a + b) / 2 for a, b in zip(values, values[1:])] + [values[-1] + 1.0]
    # One pass over the sorted train values: positives and negatives above each candidate.
    pairs = sorted(train)
    n, pos = len(pairs), sum(y for _, y in pairs)
    best_acc, best_thr, best_sign = -1.0, cands[0], 1
    i = above_pos = 0
    above_pos, above_neg = pos, n - pos
    for thr in cands:
        while i < n and pairs[i][0] <= thr:
            if pairs[i][1]:
                above_pos -= 1
            else:
                above_neg -= 1
            i += 1
        below_neg = (n - pos) - above_neg
        below_pos = pos - above_pos
        for sign, correct in ((1, above_pos + below_neg), (-1, below_pos + above_neg)):
            if correct / n > best_acc:
                best_acc, best_thr, best_sign = correct / n, thr, sign
    return sum((best_sign * (v - best_thr) > 0) == bool(y) for v, y in test) / len(test)


def _column_value(col: str, value) -> float:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value)
    if col == "id":  # "real-17" / "gen-3": the number is what could leak (an ordering by class)
        tail = text.rsplit("-", 1)[-1]
        try:
            return float(tail)
        except ValueError:
            pass
    return float(sum(map(ord, text)) % 997)  # a stable stand-in for a category (no hash randomisation)


def separability(train_rows: Sequence[dict], test_rows: Sequence[dict],
                 vocab_words: set[str] | None = None) -> dict[str, float]:
    """Test accuracy of the best one-feature threshold, per text feature and per non-metadata column
    (``foreign_chars`` counts the characters outside those that both classes use in ``train_rows``)."""
    used = [set(), set()]
    for r in train_rows:
        used[int(r["label"])].update(r["text"])
    shared = used[0] & used[1]
    tr = [(text_features(r["text"], vocab_words, shared), int(r["label"])) for r in train_rows]
    te = [(text_features(r["text"], vocab_words, shared), int(r["label"])) for r in test_rows]
    out = {name: threshold_accuracy([(f[name], y) for f, y in tr], [(f[name], y) for f, y in te]) for name in tr[0][0]}
    for col in train_rows[0]:
        if col in ("text", "label", "label_name") or col.startswith("meta_"):
            continue
        out[f"column:{col}"] = threshold_accuracy([(_column_value(col, r[col]), int(r["label"])) for r in train_rows],
                                                  [(_column_value(col, r[col]), int(r["label"])) for r in test_rows])
    return out


def chance_bound(n_test: int) -> float:
    """A coin's accuracy plus three binomial standard deviations on ``n_test`` texts."""
    return 0.5 + 3 * math.sqrt(0.25 / n_test)


def check_shortcuts(dataset: str | Path, *, train_split: str = "train",
                    held_out: Sequence[str] = ("validation", "test"), vocab_words: Iterable[str] | None = None) -> dict:
    """Run the one-feature check on a detection dataset folder: thresholds fitted on ``train.jsonl``,
    scored on the held-out splits that exist (validation and test together: more texts, more power).

    Returns:
        ``{"format", "dataset", "held_out", "n_train", "n_test", "bound", "accuracy": {feature: held-out
        accuracy}, "shortcuts": [form features above the bound], "content_cues": [content features
        above the bound], "passed": no shortcut}``.
    """
    folder = Path(dataset)
    train_path = folder / f"{train_split}.jsonl"
    held = [s for s in held_out if (folder / f"{s}.jsonl").is_file()]
    if not train_path.is_file() or not held:
        raise TextganError(f"{folder} is not a detection dataset folder (no {train_path.name} or no "
                           f"{' / '.join(f'{s}.jsonl' for s in held_out)}): give the folder `textgan corpus detection` wrote")
    train = _load_split(folder, train_split)
    test = [r for s in held for r in _load_split(folder, s)]
    return shortcut_check(train, test, held, folder, vocab_words)


def shortcut_check(train: Sequence[dict], held_out_rows: Sequence[dict], held_out: Sequence[str], dataset: str | Path,
                   vocab_words: Iterable[str] | None = None) -> dict:
    """:func:`check_shortcuts` on rows already read (the detectability report has them in memory)."""
    if not held_out_rows or {int(r["label"]) for r in train} != {0, 1}:
        raise TextganError(f"{dataset}: the train split needs texts of both classes and the held-out splits some texts")
    words = None if vocab_words is None else set(vocab_words)
    acc = separability(train, held_out_rows, words)
    bound = chance_bound(len(held_out_rows))
    above = sorted(name for name, a in acc.items() if a > bound)
    cues = [name for name in above if name in CONTENT_FEATURES]
    flagged = [name for name in above if name not in cues]
    return {"format": SHORTCUTS_FORMAT, "dataset": str(dataset), "held_out": list(held_out), "n_train": len(train),
            "n_test": len(held_out_rows), "bound": bound, "accuracy": acc, "shortcuts": flagged,
            "content_cues": cues, "passed": not flagged}


def format_shortcuts(result: dict) -> str:
    """:func:`check_shortcuts`'s result as Markdown: one row per feature, shortcuts marked."""
    r = result
    lines = [f"One-feature shortcut check on `{r['dataset']}`: best threshold on train ({r['n_train']} texts), "
             f"accuracy on {' + '.join(r['held_out'])} ({r['n_test']} texts); chance + 3 sd = {r['bound']:.3f} "
             f"(fewer held-out texts, less power: a weaker shortcut goes unseen).", "",
             "| feature | held-out accuracy | |", "|---|---:|---|"]
    cues = r.get("content_cues", [])
    for name, a in sorted(r["accuracy"].items(), key=lambda kv: -kv[1]):
        mark = "**shortcut**" if name in r["shortcuts"] else "content cue" if name in cues else ""
        lines.append(f"| {name} | {a:.3f} | {mark} |")
    lines += ["", "No form feature (white space, length, <unk> / out-of-vocabulary rate, characters of one class, "
                  "columns) separates the classes beyond chance." if r["passed"] else
              f"**{len(r['shortcuts'])} feature(s) separate the classes beyond chance: "
              f"{', '.join(r['shortcuts'])}.** A detector can score on them without reading the text."]
    if cues:
        lines += ["", f"Content cues beyond chance: {', '.join(cues)}: counts of what the texts are made of (capitals, "
                      "punctuation, kinds of characters), where the generator writes differently from the real texts; "
                      "a detector using them reads the text (not a failure of the dataset)."]
    return "\n".join(lines) + "\n"
