"""The dataset card (README.md) of a real-versus-generated detection dataset."""

from __future__ import annotations


def _size_category(n: int) -> str:
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if n < limit:
            return name
    return "n>1M"


def _names(names: list, limit: int = 25) -> str:
    shown = ", ".join(f"`{n}`" for n in names[:limit])
    return (shown + f" and {len(names) - limit} more (all in detection.json)") if len(names) > limit else (shown or "-")


_METHODS = {
    "run": "generated texts by source run, real texts at random",
    "random": "real and generated texts at random (runs pooled)",
    "source": "whole sources held out: every group of the real column below is in one split only",
    "topic": "whole topics held out: every group of the real column below is in one split only",
    "date": "by date: the oldest dates of the real column below go to train, the newest to test, validation "
            "between; no date is in two splits",
}


def _split_lines(meta: dict) -> list[str]:
    """The split method and the groups of each split (``detection.json``'s ``split``; absent before format /3)."""
    split = meta.get("split")
    if not split:
        return []
    by = split.get("by", "run")
    lines = [f"- Split method: `{by}`: {_METHODS.get(by, by)}"
             + (f"; generated texts: {split['generated']}" if split.get("generated") else "")]
    if split.get("group_column") and split.get("groups") is not None:
        col, groups, n = split["group_column"], split["groups"], split.get("num_groups", {})
        shared = split.get("validation_shares_train_groups")
        if by == "date":
            ranges = split.get("date_range") or {}
            days = lambda k: "1 day" if k == 1 else f"{k} days"  # noqa: E731
            parts = [f"{s} {r[0]} to {r[1]} ({days(n.get(s, '?'))})" if r else f"{s} -" for s, r in ranges.items()]
            lines.append(f"- Dates (column `{col}`): " + "; ".join(parts))
        else:
            lines.append(f"- Groups (column `{col}`): " + "; ".join(
                f"{s} ({n.get(s, len(g))}): {_names(g)}" for s, g in groups.items()))
        if shared:
            lines.append("- Validation has no group of its own (only 2 groups): it is carved at random from train's "
                         "texts, so validation and train share groups; test is held out")
        if split.get("real_missing_group"):
            lines.append(f"- Real texts without a value in `{col}` (left out): {split['real_missing_group']}")
    return lines


def _length_lines(meta: dict) -> list[str]:
    info = meta.get("length_matching")
    if not info:
        return ["- Lengths: not matched (real texts keep their length up to the token budget; "
                "`textgan corpus shortcuts` tells whether length separates the classes)"]

    def dist(d: dict) -> str:
        return f"{d['mean']} +- {d['std']} (min {d['min']}, median {d['median']}, max {d['max']})"

    if info.get("mode") == "sample":
        return [f"- Lengths matched (--match-length sample): no text cut; at every whitespace-token length as many real "
                f"as generated texts kept ({info['real_dropped']} real and {info['generated_dropped']} generated texts "
                f"dropped; then in each split again: {info.get('dropped_in_splits')}). Tokens before: generated {dist(info['generated_before'])}, real {dist(info['real_before'])}; "
                f"after, both classes: {dist(info['after'])}"]
    if "generated_before" not in info:  # format of 2026-12-02 and before: cut to a drawn length
        return [f"- Lengths matched (--match-length): each real text cut to a whitespace-token length drawn from the "
                f"generated texts' lengths; {info['real_cut']} real texts cut, {info['real_shorter_than_draw']} shorter than "
                f"their draw (kept whole), {info['duplicates_after_cut']} dropped as duplicates after the cut. Tokens: "
                f"generated {dist(info['generated'])}; real before {dist(info['real_before'])}, after {dist(info['real_after'])}"]
    return [f"- Lengths matched (--match-length cut): each generated text paired with the shortest unused real text "
            f"at least as long, the real text cut to its partner's whitespace-token length (both classes: one multiset "
            f"of lengths); {info['real_cut']} real texts cut; dropped without a partner: {info['real_dropped']} real "
            f"(of them {info['duplicates_after_cut']} duplicates after the cut) and {info['generated_dropped']} generated "
            f"({info['generated_longer_than_every_real']} longer than every real text). Tokens before: generated "
            f"{dist(info['generated_before'])}, real {dist(info['real_before'])}; after, both classes: {dist(info['after'])}"]


def _near_dup_lines(meta: dict) -> list[str]:
    """The near-duplicate removal (``detection.json``'s ``near_duplicates``; absent before format /3)."""
    near = meta.get("near_duplicates")
    if near is None:
        return []
    if not near.get("enabled"):
        return ["- Near duplicates across splits: not removed (--near-dup-threshold none)"]
    removed = near["removed"]
    counts = "; ".join(f"{s}: real {c['real']}, generated {c['generated']}" for s, c in removed.items())
    return [f"- Near duplicates across splits removed: a validation or test text whose {near['shingles']} (shingles) "
            f"have a Jaccard similarity >= {near['threshold']} with a train text of its class (test: or a validation "
            f"text); {near['method']} ({near['num_perm']} permutations, seed {near['seed']}, {near['lsh_bands']} bands of "
            f"{near['lsh_rows']}: a pair at the threshold is missed with probability {near['lsh_miss_at_threshold']}); replaced by unused texts of the split when there were any. Removed: {counts}"]


def _class_lines(meta: dict) -> list[str]:
    """The class mix of a label-conditional dataset (``detection.json``'s ``classes``; absent otherwise)."""
    mix = meta.get("classes")
    if not mix:
        return []
    names = sorted({c for per in mix.values() for side in per.values() for c in side})
    lines = ["", "## Classes (label-conditional generator)", "",
             "Each text also has a class (`class_name`): a real text's label in its corpus, a generated text's "
             "conditioning label. Texts per class, side and split:", "",
             "| split | side | " + " | ".join(names) + " |", "|---|---|" + "---:|" * len(names)]
    for split, per in mix.items():
        for side in ("real", "generated"):
            lines.append(f"| {split} | {side} | " + " | ".join(str(per[side].get(c, 0)) for c in names) + " |")
    return lines


def dataset_card(meta: dict) -> str:
    """The dataset card (README.md) of a detection dataset, from its ``detection.json``."""
    real, counts, removed = meta["real"], meta["counts"], meta["removed"]
    total = sum(c["real"] + c["generated"] for c in counts.values())
    lines = ["---", "task_categories:", "- text-classification", "language:", "- en",
             f"size_categories:\n- {_size_category(total)}", "tags:", "- machine-generated-text-detection",
             "- fake-news", "- textgan", "---", "",
             "# Real-versus-generated text detection dataset", "",
             "Built by `textgan corpus detection`. Label 0 = real (human-written) text, label 1 = text "
             "generated by the model below. Each split is balanced.", "",
             "## Counts", "", "| split | real | generated | total |", "|---|---:|---:|---:|"]
    for s, c in counts.items():
        lines.append(f"| {s} | {c['real']} | {c['generated']} | {c['real'] + c['generated']} |")
    lines += ["", "## Real part", "",
              f"- Source: `{real['spec']}`" + (f" ({real['title']})" if real.get("title") else ""),
              f"- Corpus splits used: {', '.join(real['splits']) if real.get('splits') else 'the whole file'}",
              f"- Canonical source: {real['source']}",
              f"- **License**: {real['license']}",
              f"- Label filter: {real['labels'] if real.get('labels') else 'none (every row)'}",
              f"- Cut to the first {real['max_tokens']} whitespace tokens" if real.get("max_tokens") else "- Texts kept whole",
              f"- Texts read: {real['num_texts']}", "", "## Generated part", ""]
    for g in meta["generated"]:
        sampling = "; ".join(", ".join(f"{k}={v}" for k, v in s.items()) for s in g["sampling"]) or "unknown"
        lines += [f"- `{g['path']}`: {g['num_records']} records; model {', '.join(g['model']) or 'unknown'}; "
                  f"recipe {', '.join(str(r) for r in g['recipe']) or 'unknown'}; checkpoint sha256 "
                  f"{', '.join(c[:16] for c in g['checkpoint_sha256']) or 'unknown'}; sampling {sampling}"]
    assignment = meta["assignment"]
    s = meta["settings"]
    if s["mix_runs"]:
        by_run = "no (--mix-runs: runs pooled, then split at random)"
    elif s.get("split_by") == "random":
        by_run = "no (--split-by random: runs pooled, then split at random)"
    elif len(meta["generated"]) == 1:
        by_run = "no (a single run: its texts are split at random, so train and test share a generator run)"
    else:
        by_run = "yes"
    canon = meta.get("canonical") or {}
    lines += [f"- Generator checkpoint: {meta.get('generator_checkpoint') or 'not given'}",
              f"- Generator's training data: {meta.get('generator_train') or 'not stated'}"]
    if canon:
        r, g = canon["real"], canon["generated"]
        lines += ["", "## Text form (the same for both classes)", "",
                  f"- Tokenization and detokenization of both sides: {canon['tokenization']}",
                  f"- Vocabulary: {canon['vocabulary'] or 'none (no generator given: real words outside what the generator can emit are not checked)'}"
                  + (f"; out-of-vocabulary real tokens: {canon['oov']}" if canon.get("vocabulary") else ""),
                  *([f"- `--oov auto` chose `{canon['oov_auto']['choice']}`: texts holding <unk> were "
                     f"{canon['oov_auto']['real_texts_with_unk']:.2%} of the real and "
                     f"{canon['oov_auto']['generated_texts_with_unk']:.2%} of the generated ones (tolerance "
                     f"{canon['oov_auto']['tolerance']:.2%}): {canon['oov_auto']['why']}"] if canon.get("oov_auto") else []),
                  "", "| side | texts read | kept | OOV tokens | OOV token rate | texts with OOV | dropped for OOV | "
                  "<unk> token rate (stored) | OOV and <unk> tokens deleted | cut to length | empty |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for side, d in (("real", r), ("generated", g)):
            lines.append(f"| {side} | {d['texts']} | {d['kept']} | {d['oov_tokens']} | {d['oov_token_rate']:.4f} | "
                         f"{d['texts_with_oov']} ({d['oov_text_rate']:.2%}) | {d['dropped_oov']} | "
                         f"{d['unk_token_rate']:.4f} | {d.get('deleted_unk', 0)} | {d['truncated']} | {d['dropped_empty']} |")
    lines += _class_lines(meta)
    lines += ["", "## Construction", ""] + _split_lines(meta) + [
              f"- Split by source run: {by_run}; "
              + "; ".join(f"{k}: {', '.join(v) or '-'}" for k, v in assignment.items()),
              f"- Fractions: validation {s['validation_fraction']}, test {s['test_fraction']}; seed {s['seed']}"
              + (f"; at most {s['max_per_class']} texts per class" if s.get("max_per_class") else ""),
              "- Texts are compared in their stored (canonical) form. Removed: "
              + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in removed.items()),
              "- No generated text is identical to a real text of any split."] + _near_dup_lines(meta) + _length_lines(meta) + ["",
              "## Columns", "",
              "`text` is the only feature; `label` (0 real, 1 generated) and `label_name` the label; `meta_source` "
              "is provenance metadata (the real corpus or the generated file): it reveals the label by construction, "
              "so never use it (or any `meta_*` column) as a feature. The shipped detectors read `text` only."
              + (" `meta_group` holds the group (source, topic or date) a real text was split by (and a generated "
                 "text's, when the generated records carry that field)."
                 if "meta_group" in (meta.get("columns") or {}).get("metadata", []) else "")
              + (" `class_name` is the class of a label-conditional corpus: a real text's label in its corpus, a "
                 "generated text's conditioning label (both sides use the same names; see the class mix above)."
                 if (meta.get("columns") or {}).get("class") else ""), "",
              "## Files", "",
              "`load_from_disk(folder)` gives the DatasetDict; `train.jsonl`, `validation.jsonl` and `test.jsonl` "
              "hold the same records; `detection.json` holds these facts; `report.md` / `report.json` hold the "
              "baseline detector's results when `--report` was given.", "",
              "## Licenses", "",
              f"The real texts keep their source's terms: {real['license']} The generated texts are model output "
              "trained on that data; check the terms of the generator's training corpus before redistributing.", "",
              f"Built with textgan {meta.get('textgan_version', 'unknown')}.", ""]
    return "\n".join(lines)
