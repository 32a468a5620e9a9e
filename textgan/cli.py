"""The ``textgan`` command line: thin subcommands over :mod:`textgan.api`."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Sequence

from .errors import TextganError


def _print_seed_summary(summary: dict, folder) -> None:
    for k, s in summary["final"].items():
        if s.get("n"):
            print(f"{k}: {s['mean']:.4f} +- {s['std']:.4f} over {s['n']} seeds")
    print(f"seeds folder: {folder} (summary.md, summary.json, learning_curve.png)")


def _cmd_run(args: argparse.Namespace) -> int:
    from . import api
    from .config import load_recipe, recipe_to_dict
    from .engine.loop import RunInterrupted

    if args.parallel is not None and args.parallel < 1:
        raise TextganError(f"--parallel must be a positive number of processes, got {args.parallel}: e.g. --parallel 2")
    seeds_folder = any(p is not None and (Path(p) / "seeds.json").is_file() for p in (args.resume, args.fork))
    if args.parallel is not None and args.seeds is None and not seeds_folder:
        raise TextganError("--parallel N trains seeds side by side: it goes with --seeds (or --resume / --fork of a "
                           "--seeds folder); drop it for a single run")
    if args.resume is not None and (Path(args.resume) / "seeds.json").is_file():
        from .multiseed import resume_seeds

        if args.recipe is not None or args.out is not None or args.set or args.seeds is not None:
            raise TextganError("--resume of a --seeds folder takes no recipe, --out, --set or --seeds")
        summary = resume_seeds(args.resume, progress=not args.quiet, parallel=args.parallel)
        print(f"seeds folder: {args.resume} (summary.md, summary.json, learning_curve.png)")
        return 0
    if args.at is not None and args.fork is None:
        raise TextganError("--at PHASE goes with --fork RUN_DIR: the phase of RUN_DIR to start the new run from")
    if args.fork is not None:
        if args.recipe is not None or args.resume is not None or args.seeds is not None or args.dry_run:
            raise TextganError("--fork RUN_DIR starts from another run's saved state with its recipe: drop the recipe, "
                               "--resume, --seeds and --dry-run (use --set for allowed changes, --out for the folder)")
        if args.at is None:
            raise TextganError("--fork needs --at PHASE: the phase to start from, e.g. --at adversarial "
                               "(the run folder's phase_states/ lists those kept)")
        if (Path(args.fork) / "seeds.json").is_file():
            from .multiseed import fork_seeds

            if args.out is None:
                raise TextganError("--fork of a --seeds folder needs --out: the new seeds folder")
            summary = fork_seeds(args.fork, args.at, args.out, args.set, parallel=args.parallel,
                                 progress=not args.quiet)
            _print_seed_summary(summary, args.out)
            return 0
        parent_recipe = Path(args.fork) / "recipe.yaml"
        run_dir = args.out if args.out is not None or not parent_recipe.is_file() else str(
            api.default_run_dir(load_recipe(parent_recipe)))
    elif args.resume is not None:
        if args.recipe is not None or args.out is not None or args.dry_run or args.seeds is not None:
            raise TextganError("--resume RUN_DIR continues a run with its own recipe, folder and seed: "
                               "drop the recipe, --out, --seeds and --dry-run (use --set for allowed changes)")
        run_dir = args.resume
    else:
        if args.recipe is None:
            raise TextganError("run needs a RECIPE (a YAML path or a name from `textgan recipes`), or --resume RUN_DIR")
        recipe = load_recipe(api.find_recipe(args.recipe), args.set)
        if args.dry_run:
            import yaml

            print(yaml.safe_dump(recipe_to_dict(recipe), sort_keys=False), end="")
            return 0
        run_dir = args.out if args.out is not None else api.default_run_dir(recipe)
        from .io import check_output, is_stdout

        if is_stdout(run_dir):
            raise TextganError("run --out is a run folder, not a stream: pass a folder name (default runs/<name>/<timestamp>)")
        # A file, link, device or someone else's non-empty folder is never written into.
        check_output(run_dir, folder=True, own=("run.json", "metrics.jsonl", "state", "recipe.yaml", "seeds.json"))
        if args.seeds is not None:
            from .multiseed import parse_seeds, run_seeds

            summary = run_seeds(recipe, parse_seeds(args.seeds), run_dir, parallel=args.parallel,
                                progress=not args.quiet)
            _print_seed_summary(summary, run_dir)
            return 0
    try:
        if args.fork is not None:
            result = api.fork(args.fork, args.at, run_dir, args.set, progress=not args.quiet)
        elif args.resume is not None:
            result = api.resume(run_dir, args.set, progress=not args.quiet)
        else:
            result = api.train(recipe, out_dir=run_dir, progress=not args.quiet)
    except RunInterrupted as e:
        print(f"interrupted: {e}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        from .engine.rundir import RunDir

        if (Path(run_dir) / "state").is_dir() and RunDir.holds_run(run_dir):
            print(f"interrupted: the run in {str(run_dir)!r} keeps its last saved state: continue it with "
                  f"`textgan run --resume {run_dir}`", file=sys.stderr)
        else:
            print("interrupted before training started: nothing was saved", file=sys.stderr)
        return 130
    if os.environ.get("RANK", "0") != "0":  # under torchrun, rank 0 speaks for the run
        return 0
    shown = "  ".join(f"{k}={v:.4f}" for k, v in result.metrics.items() if isinstance(v, float))
    print(f"run folder: {result.path}")
    from .runtime import peak_rss_mb

    peak = peak_rss_mb()
    memory = f", peak memory {peak:,.0f} MB" if peak is not None else ""
    print(f"final: {shown}  (wall time {result.wall_time_s:.1f} s{memory})")
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from . import api
    from .multiseed import format_comparison

    result = api.compare(args.a, args.b)
    if args.json:
        from .io import write_json

        write_json(args.json, result)
    print(format_comparison(result))
    return 0


def _cmd_generate(args: argparse.Namespace) -> int:
    from . import api
    from .generation import format_result, parts_dir
    from .io import is_stdout

    try:
        result = api.generate(args.checkpoint, args.num, args.out, temperature=args.temperature, top_k=args.top_k,
                              top_p=args.top_p, min_len=args.min_len, max_len=args.max_len, seed=args.seed,
                              format=args.format, shard_size=args.shard_size, batch_size=args.batch_size,
                              drop_duplicates=args.dedupe, drop_train_copies=args.drop_train_copies,
                              train=args.train, device=args.device, progress=not args.quiet,
                              fixed_shards=args.fixed_shards, label=args.label, labels=args.labels,
                              ban_unk=args.ban_unk)
    except KeyboardInterrupt:
        if is_stdout(args.out):
            print("interrupted: standard output cannot be resumed; rerun the command", file=sys.stderr)
        else:
            print(f"interrupted: finished shards are kept in {parts_dir(args.out)}; run the same command to resume",
                  file=sys.stderr)
        return 130

    if os.environ.get("RANK", "0") == "0":  # under torchrun, rank 0 speaks for the output
        print(format_result(result), file=sys.stderr if is_stdout(args.out) else sys.stdout)
    return 0


def _cmd_recipes(args: argparse.Namespace) -> int:
    from . import api

    rows = api.list_recipes()
    width = max((len(p) for p, _ in rows), default=0)
    for path, summary in rows:
        print(f"{path:<{width}}  {summary}")
    return 0


def _cmd_corpus(args: argparse.Namespace) -> int:
    from .data import corpus

    if args.corpus_cmd == "list":
        for card in corpus.list_corpora():
            print(corpus.format_card_line(card))
        return 0
    if args.corpus_cmd == "detection":
        return _corpus_detection(args)
    if args.corpus_cmd == "augment":
        return _corpus_augment(args)
    if args.corpus_cmd == "grid":
        return _corpus_grid(args)
    if args.corpus_cmd == "shortcuts":
        from .detection.shortcuts import check_shortcuts, format_shortcuts

        result = check_shortcuts(args.dataset)
        print(format_shortcuts(result), end="")
        return 0 if result["passed"] else 1
    print(corpus.format_card(corpus.corpus_info(args.name)))
    return 0


def _corpus_detection(args: argparse.Namespace) -> int:
    from .detection import build_detection_dataset, detectability_report, format_report

    for flag, value in (("--max-per-class", args.max_per_class), ("--real-max-tokens", args.real_max_tokens),
                        ("--epochs", args.epochs), ("--detector-seeds", args.detector_seeds)):
        if value is not None and value < 1:
            raise TextganError(f"{flag} must be positive, got {value}: pass a positive number or leave it out")
    ds = build_detection_dataset(args.real, args.generated, args.out, real_labels=args.real_label,
                                 real_max_tokens=args.real_max_tokens, text_column=args.text_column,
                                 mix_runs=args.mix_runs, validation_fraction=args.validation_fraction,
                                 test_fraction=args.test_fraction, max_per_class=args.max_per_class, seed=args.seed,
                                 generator=args.generator, oov=args.oov, generator_train=args.generator_train,
                                 split_by=args.split_by, group_column=args.real_group_column,
                                 near_dup_threshold=args.near_dup_threshold, near_dup_shingle=args.near_dup_shingle,
                                 match_length=args.match_length)
    shown = ", ".join(f"{s} {c['real']}+{c['generated']}" for s, c in ds.counts.items())
    print(f"wrote {ds.path} (real+generated per split: {shown}); removed: "
          + ", ".join(f"{k} {v}" for k, v in ds.removed.items()))
    near = ds.near_duplicates
    print("near duplicates across splits removed (real, generated): "
          + ", ".join(f"{s} {c['real']}, {c['generated']}" for s, c in near["removed"].items())
          + (f" (Jaccard >= {near['threshold']}, {near['shingles']})" if near.get("enabled") else " (off)"))
    if args.report:
        report = detectability_report(ds.path, epochs=args.epochs, tokenize=args.tokenize, device=args.device,
                                      seed=args.seed, progress=not args.quiet, reference_lm=args.generator,
                                      cnn_seeds=args.detector_seeds, transformer=args.transformer_detector)
        print(format_report(report), end="")
        print(f"wrote {ds.path / 'report.md'}, report.json" + (" and roc.png" if report.get("roc_plot") else ""))
    return 0


def _corpus_grid(args: argparse.Namespace) -> int:
    from .detection import grid

    values = {name: grid.parse_values(text, flag, kind, example) for name, text, flag, kind, example in (
        ("temperatures", args.temperatures, "--temperatures", float, "0.7,1.0"),
        ("top_ps", args.top_p, "--top-p", float, "0.9,1.0"), ("top_ks", args.top_k, "--top-k", int, "0,40"),
        ("detectors", args.detectors, "--detectors", str, ",".join(grid.DETECTORS)))}
    result = grid.decoding_grid(args.checkpoint, args.real, args.out, num=args.num, seed=args.seed,
                                real_max_tokens=args.real_max_tokens, real_labels=args.real_label,
                                text_column=args.text_column, oov=args.oov, epochs=args.epochs,
                                batch_size=args.batch_size,
                                tokenize=args.tokenize, device=args.device, progress=not args.quiet,
                                echo=lambda line: print(line, file=sys.stderr), **values)
    print((result.path / "grid.md").read_text(encoding="utf-8"), end="")
    print(f"wrote {result.path / 'grid.md'}, grid.json and cells/ ({len(result.cells)} cells, "
          f"{len(result.skipped)} already complete) in {result.seconds:.0f} s")
    return 0


def _corpus_augment(args: argparse.Namespace) -> int:
    from .detection.augment import augmentation_experiment

    fractions = _number_list(args.real_fraction, "--real-fraction", float, "1.0,0.1")
    seeds = _number_list(args.seeds, "--seeds", int, "0,1,2")
    report = augmentation_experiment(args.real, args.generator, args.out, per_label=args.per_label, ratio=args.ratio,
                                     mix=args.mix, classifier=args.classifier, seeds=seeds, real_fractions=fractions,
                                     train_split=args.train_split, validation_split=args.validation_split,
                                     test_split=args.test_split, label_map=args.label_map,
                                     text_column=args.text_column, label_column=args.label_column,
                                     n_bootstrap=args.bootstrap, temperature=args.temperature,
                                     drop_train_copies=not args.keep_train_copies, device=args.device,
                                     echo=None if args.quiet else (lambda line: print(line, file=sys.stderr)))
    print((Path(args.out) / "augmentation.md").read_text(encoding="utf-8"), end="")
    print(f"wrote {Path(args.out) / 'augmentation.md'}, augmentation.json and generated/ in {report['seconds']:.0f} s")
    return 0


def _format_table(rows: list[dict]) -> str:
    keys = list(dict.fromkeys(k for r in rows for k in r))
    cells = [[k for k in keys]] + [[(f"{r[k]:.4f}" if isinstance(r.get(k), float) else str(r.get(k, ""))) for k in keys] for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(keys))]
    return "\n".join("  ".join(c[i].ljust(widths[i]) for i in range(len(keys))) for c in cells)


def _number_list(text: str, flag: str, kind: type, example: str) -> tuple:
    """``"2,3,4"`` -> ``(2, 3, 4)``, with a one-line error naming ``flag`` for anything else."""
    try:
        values = tuple(kind(x) for x in text.split(","))
    except ValueError:
        raise TextganError(f"{flag} takes comma-separated {'whole ' if kind is int else ''}numbers, got {text!r}: "
                           f"e.g. {flag} {example}") from None
    return values


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from . import api
    from .errors import TextganError

    orders = _number_list(args.orders, "--orders", int, "2,3,4,5")
    if any(n < 1 for n in orders):
        raise TextganError(f"--orders must be n-gram sizes of 1 or more, got {args.orders!r}: e.g. --orders 2,3,4,5")
    if args.run:
        temps = _number_list(args.temperatures, "--temperatures", float, "0.7,1.0,1.3")
        if args.num_samples < 1:
            raise TextganError(f"--num-samples must be positive, got {args.num_samples}: e.g. --num-samples 2000")
        sweep_metrics = (None if args.sweep_metrics is None
                         else tuple(m.strip() for m in args.sweep_metrics.split(",") if m.strip()))
        lm = {"model": args.lm, "device": args.device, "seed": args.seed}
        lm.update({k: v for k, v in (("max_epochs", args.lm_epochs), ("max_texts", args.lm_max_texts)) if v is not None})
        features = {k: v for k, v in (("encoder", args.encoder), ("model", args.features)) if v}
        features = {**features, "device": args.device} if features else None
        rows, png, summary = api.evaluate_runs(
            args.run, temps, args.out or args.run[0], num_samples=args.num_samples, order=args.plot_order,
            seed=args.seed, metrics=sweep_metrics, orders=orders, lm=lm, features=features,
            mle_baseline=not args.no_mle_baseline, quality=args.quality, diversity=args.diversity)
        from .train.evaluation import format_quality_diversity_summary

        print(_format_table([{k: "" if v is None else v for k, v in r.items() if k not in ("run", "protocol", "fingerprint")}
                             for r in rows]))
        print()
        print(format_quality_diversity_summary(summary), end="")
        print(f"wrote {png} and quality_diversity.json/.tsv, quality_diversity_summary.json/.md beside it")
        return 0
    if not args.samples:
        raise TextganError("evaluate needs --samples FILE (generated texts) or --run RUN (temperature sweep)")
    metrics = tuple(m.strip() for m in args.metrics.split(",") if m.strip())
    lm = {"model": args.lm, "device": args.device, "seed": args.seed}
    lm.update({k: v for k, v in (("max_epochs", args.lm_epochs), ("max_texts", args.lm_max_texts)) if v is not None})
    features = {k: v for k, v in (("encoder", args.encoder), ("model", args.features)) if v}
    features = {**features, "device": args.device} if features else None
    result = api.evaluate(args.samples, args.references, args.train, metrics=metrics, orders=orders,
                          tokenize=args.tokenize, out=args.out, smoothing=args.smoothing,
                          self_bleu_first=500 if args.fast_self_bleu else None,
                          bleu_first_references=500 if args.fast_bleu else None, blank_lines=args.blank_lines,
                          lm=lm, features=features)
    from .io import is_stdout

    if is_stdout(args.out):  # the JSON went to standard output: it is the whole output
        return 0
    proto = result.pop("protocol", {})
    width = max(len(k) for k in result)
    for k, v in result.items():
        print(f"{k:<{width}}  {v:.6f}" if isinstance(v, float) else f"{k:<{width}}  {v}")
    if proto:
        print(f"protocol: tokenizer={proto['tokenizer']} samples={proto['num_samples']} "
              f"references={proto['num_references']} (sha256 {proto['references_sha256']}) "
              f"orders={','.join(map(str, proto['orders']))} smoothing={proto['smoothing']} "
              f"self_bleu={proto['self_bleu']} bleu_references={proto['bleu_references']} "
              f"blank_lines={proto['blank_lines']} (full protocol in the JSON)")
    if args.out:
        print(f"wrote {args.out}")
    return 0


def _cmd_embed(args: argparse.Namespace) -> int:
    from . import api

    if args.model is None and args.model_arg is None:
        raise TextganError("embed needs the ADM run or checkpoint folder: `textgan embed RUN --input ... --out ...` "
                           "(or --model RUN)")
    if args.model is not None and args.model_arg is not None and args.model != args.model_arg:
        raise TextganError(f"two models given ({args.model_arg!r} and --model {args.model!r}): pass one")
    args.model = args.model or args.model_arg
    report = api.embed_to_file(args.model, args.input, args.out, split=args.split, text_column=args.text_column,
                               batch_size=args.batch_size, device=args.device, progress=not args.quiet,
                               format=args.format, shard_size=args.shard_size)
    from .io import is_stdout

    if os.environ.get("RANK", "0") != "0":  # under torchrun, rank 0 speaks for the output
        return 0
    where = sys.stderr if is_stdout(args.out) else sys.stdout  # the vectors themselves went to stdout
    print(f"wrote {report.num_documents} vectors of size {report.dim} to {', '.join(str(f) for f in report.files)}",
          file=where)
    if report.num_empty:
        print(f"{report.num_empty} document(s) have no vocabulary word: they got the empty bag-of-words vector (empty=true)",
              file=where)
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    import torch

    torch.set_num_threads(args.threads)
    if args.what == "bleu":
        from .bench.bleu import bench_bleu, format_bleu_bench

        print(format_bleu_bench(bench_bleu(n_samples=args.num or 10_000, nltk_subsample=args.nltk_subsample)))
        return 0
    if args.what == "mle":
        from .bench.rollout import bench_mle_epoch, format_mle_bench

        print(format_mle_bench(bench_mle_epoch(threads=args.threads, anchor=args.anchor, repeats=args.repeat,
                                               sequences=args.num or 10_000)))
        return 0
    if args.what == "rollout" and args.model == "seqgan":
        from .bench.rollout import bench_rollout, format_rollout_bench

        print(format_rollout_bench(bench_rollout(threads=args.threads, anchor=args.anchor)))
        return 0
    if args.what == "rollout":  # --model leakgan
        from .bench.leakgan import bench_leakgan, format_leakgan_bench

        rollouts = tuple(int(x) for x in args.num_rollouts.split(","))
        print(format_leakgan_bench(bench_leakgan(num_samples=args.num or 10_000, num_rollouts=rollouts,
                                                 compute_dtype=args.compute_dtype, threads=args.threads)))
        return 0
    if args.what == "discriminator" and args.device:
        from .bench.device import bench_device_steps, format_device_steps
        from .device import resolve_device

        print(format_device_steps(bench_device_steps(resolve_device(args.device))))
        return 0
    if args.what == "discriminator":
        from .bench.discriminator import (bench_discriminator, format_discriminator_bench, format_operator_calls,
                                          operator_calls_per_step)

        print(format_discriminator_bench(bench_discriminator(threads=args.threads)))
        print()
        print(format_operator_calls(operator_calls_per_step()))
        return 0
    if args.what == "generation":
        from .bench.generation import bench_generation, format_generation_bench

        print(format_generation_bench(bench_generation(threads=args.threads)))
        return 0
    if args.what == "transformer":
        from .bench.transformer import bench_transformer, format_transformer_bench

        print(format_transformer_bench(bench_transformer(threads=args.threads, quick=args.quick)))
        return 0
    if args.what == "evaluate":
        from .bench.evaluate import bench_evaluate, format_evaluate_bench

        lm_options = {"max_epochs": args.lm_epochs} if args.lm_epochs is not None else None
        print(format_evaluate_bench(bench_evaluate(n=args.num or 10_000, lm=not args.no_lm, encoder=args.encoder,
                                                   lm_options=lm_options)))
        return 0
    if args.what == "adm":
        from .bench.adm import bench_adm, format_adm_bench

        if args.embed_docs:
            from .bench.adm import bench_embed_stream, format_embed_stream

            sizes = _number_list(args.embed_docs, "--embed-docs", int, "100000,1000000")
            print(format_embed_stream(bench_embed_stream(sizes, threads=args.threads)))
            return 0
        print(format_adm_bench(bench_adm()))
    elif args.what == "detection":
        from .bench.detection import bench_detection, format_detection_bench

        print(format_detection_bench(bench_detection(n=args.num or 100_000, generator=args.generator,
                                                      transformer=args.transformer, threads=args.threads,
                                                      workdir=args.workdir)))
        return 0
    raise AssertionError(args.what)


class _HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default, except where it says nothing (None, off flags, empty lists).

    Descriptions and epilogs keep their line breaks (examples stay readable).
    """

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if ("%(default)" in text or default is None or default is False or default is argparse.SUPPRESS
                or default == [] or action.required
                or (not action.option_strings and action.nargs not in (argparse.OPTIONAL, argparse.ZERO_OR_MORE))):
            return text
        return text + " (default: %(default)s)"


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("textgan")
    except metadata.PackageNotFoundError:  # running from a source tree that was never installed
        import textgan

        return str(getattr(textgan, "__version__", "unknown"))


class _VersionAction(argparse.Action):
    """``--version``: print ``textgan <version>`` and exit 0 (the version is looked up only when asked)."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS,
                 default: str = argparse.SUPPRESS, help: str | None = None) -> None:
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        print(f"textgan {_version()}")
        parser.exit(0)


_THREADS_HELP = "torch CPU threads (default: torch's, one per core; lower it when other jobs share the cores)"
_DEVICE_HELP = "auto (CUDA when available, else CPU), cpu, cuda or cuda:N"

_RUN_EPILOG = """\
overriding recipe keys:
  --set takes a dotted SECTION.KEY path and a YAML value, and can be repeated:
    textgan run quickstart --set mle.epochs=3 --set discriminator.lr=1e-4
  lists are written [a,b] (quote them for the shell): --set 'eval.metrics=[nll_oracle,nll_test]'
  every key, with its value, is printed by `textgan run RECIPE --dry-run`;
  recipes/README.md and the dataclasses of textgan/config.py document them.
"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for documentation and tests)."""
    p = argparse.ArgumentParser(prog="textgan", description="Adversarial text generation and document modeling.",
                                formatter_class=_HelpFormatter)
    p.add_argument("--version", action=_VersionAction, help="print the textgan version and exit")
    p.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND",
                           help="`textgan COMMAND --help` shows a command's options")

    def command(parent, name: str, help: str, **kw) -> argparse.ArgumentParser:
        return parent.add_parser(name, help=help, description=kw.pop("description", help),
                                 formatter_class=_HelpFormatter, **kw)

    r = command(sub, "run", "train a recipe end to end", epilog=_RUN_EPILOG)
    r.add_argument("recipe", nargs="?", default=None,
                   help="recipe YAML path or shipped name (see `textgan recipes`); omitted with --resume")
    r.add_argument("--resume", default=None, metavar="RUN_DIR",
                   help="continue the run in RUN_DIR from its last saved training state (after a crash, kill or "
                        "Ctrl-C); --set may change what does not fix the models or the data")
    r.add_argument("--fork", default=None, metavar="RUN_DIR",
                   help="start a new run (--out) from the state RUN_DIR's phase --at began with (an ablation that "
                        "shares pretraining: --fork RUN --at adversarial --set adversarial.KEY=VALUE)")
    r.add_argument("--at", default=None, metavar="PHASE", help="with --fork: the phase to start from (e.g. adversarial)")
    r.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override a recipe key, e.g. --set mle.epochs=3 --set discriminator.lr=1e-4; lists as [a,b]; "
                        "repeatable (`--dry-run` prints every key; see below)")
    r.add_argument("--out", default=None, help="run folder (default: runs/<name>/<timestamp>)")
    r.add_argument("--seeds", default=None, metavar="LIST",
                   help="run the recipe once per seed (e.g. 0,1,2 or 0-4), each in OUT/seed<N>/, then write "
                        "OUT/summary.md, summary.json (mean +- std, min, max) and a learning curve with bands")
    r.add_argument("--parallel", type=int, default=None, metavar="N",
                   help="with --seeds (or --fork of a --seeds folder): seeds trained side by side as separate processes (default: all of them "
                        "on a GPU, one at a time on a CPU)")
    r.add_argument("--dry-run", action="store_true", help="print the resolved recipe (every key and value) and exit")
    r.add_argument("--quiet", action="store_true", help="no progress bars")
    r.set_defaults(func=_cmd_run)

    cmp_ = command(sub, "compare", "two settings over the same seeds: means and the paired difference per metric")
    cmp_.add_argument("a", help="a --seeds folder (or one run folder): setting A")
    cmp_.add_argument("b", help="a --seeds folder (or one run folder) of the same seeds: setting B")
    cmp_.add_argument("--json", default=None, metavar="FILE", help="also write the comparison as JSON")
    cmp_.set_defaults(func=_cmd_compare)

    g = command(sub, "generate", "sample texts from a run or checkpoint (sharded, resumable)")
    g.add_argument("checkpoint", help="run folder or checkpoint folder")
    g.add_argument("-n", "--num", type=int, required=True,
                   help="texts to write (kept after filters); under torchrun write -n N (torchrun's own parser "
                        "reads --num as its --numa-binding)")
    g.add_argument("--out", required=True, help="output file (a folder for --format hf); rerun to resume")
    g.add_argument("--format", choices=["jsonl", "parquet", "hf"], default=None,
                   help="output format (default: parquet for a .parquet --out, else jsonl)")
    g.add_argument("--temperature", type=float, default=1.0,
                   help="softmax temperature: below 1 safer, more repetitive texts; above 1 more diverse ones")
    g.add_argument("--top-k", type=int, default=0, help="sample among the K most likely tokens only (0: no limit)")
    g.add_argument("--top-p", type=float, default=1.0,
                   help="nucleus sampling: among the most likely tokens holding this probability mass (1.0: no limit)")
    g.add_argument("--min-len", type=int, default=1, help="drop (and count) texts with fewer tokens (1: no empty text)")
    g.add_argument("--max-len", type=int, default=None, help="tokens drawn per text (default: the model's)")
    g.add_argument("--seed", type=int, default=0, help="random seed (the same seed gives the same texts)")
    g.add_argument("--ban-unk", action="store_true",
                   help="never write <unk> (the word a run's vocabulary maps rare words to); recorded in each text's sampling")
    g.add_argument("--dedupe", action="store_true", help="drop exact duplicate texts (counted)")
    g.add_argument("--drop-train-copies", action="store_true", help="drop texts equal to a training text (counted)")
    g.add_argument("--train", default=None, help="training texts for --drop-train-copies (default: the run's recipe)")
    g.add_argument("--fixed-shards", action="store_true",
                   help="shards of exactly --shard-size draws, duplicates dropped at the merge: the layout torchrun "
                        "uses (always on there), whose texts are the same for any number of processes")
    g.add_argument("--label", default=None, metavar="L",
                   help="label-conditional models: generate class L only (a name or an index)")
    g.add_argument("--labels", default=None, metavar="L1:W1,L2:W2",
                   help="label-conditional models: the mix of classes (default: the training mix)")
    g.add_argument("--shard-size", type=int, default=10_000, help="texts per shard (the most a kill can lose)")
    g.add_argument("--batch-size", type=int, default=1000, help="texts sampled together (memory against speed)")
    g.add_argument("--device", default="auto", help=_DEVICE_HELP)
    g.add_argument("--threads", type=int, default=None, help=_THREADS_HELP)
    g.add_argument("--quiet", action="store_true", help="no progress bar")
    g.set_defaults(func=_cmd_generate)

    rc = command(sub, "recipes", "list the shipped recipes")
    rc.set_defaults(func=_cmd_recipes)

    c = command(sub, "corpus", "named corpora")
    csub = c.add_subparsers(dest="corpus_cmd", required=True, metavar="CORPUS_COMMAND",
                            help="`textgan corpus CORPUS_COMMAND --help` shows its options")
    command(csub, "list", "list named corpora")
    ci = command(csub, "info", "show a corpus card")
    ci.add_argument("name", help="corpus name (see `textgan corpus list`)")
    cd = command(csub, "detection", "build a balanced real-vs-generated detection dataset (+ --report)")
    cd.add_argument("--real", required=True, help="real texts: corpus NAME (every local split), NAME:SPLIT or a file")
    cd.add_argument("--generated", action="append", required=True, metavar="PATH",
                    help="output of `textgan generate` (repeat: one per generation run)")
    cd.add_argument("--out", required=True, help="dataset folder (DatasetDict + JSONL per split + README.md card)")
    cd.add_argument("--real-label", action="append", default=None, metavar="LABEL",
                    help="keep only real rows with this label (repeatable; e.g. 1 for FA-KES credible articles)")
    cd.add_argument("--real-max-tokens", type=int, default=None,
                    help="cut real texts to this many whitespace tokens (default: no cut)")
    cd.add_argument("--text-column", default=None, help="text column of a real user file (default: text)")
    cd.add_argument("--mix-runs", action="store_true", help="pool the runs instead of splitting by run")
    cd.add_argument("--split-by", choices=["run", "random", "source", "date", "topic"], default="run",
                    help="run: generated texts by run, real at random; random: everything at random; "
                         "source / topic: whole groups of a real metadata column held out; date: oldest to train, "
                         "newest to test")
    cd.add_argument("--real-group-column", default=None, metavar="NAME",
                    help="the real corpus's column for --split-by source|date|topic (default: source, date, subject; "
                         "e.g. platform for FakeNewsNet v1's BuzzFeed/PolitiFact)")
    cd.add_argument("--match-length", nargs="?", const="cut", default=None, choices=["cut", "sample"],
                    help="no length shortcut: cut (the default when given alone) pairs each generated text with a real "
                         "text at least as long and cuts the real one to its length (articles); sample keeps as many real as generated texts "
                         "at every length and cuts nothing (sentences)")
    cd.add_argument("--near-dup-threshold", default="0.8", metavar="J|none",
                    help="drop validation/test texts whose word-shingle Jaccard with a train (or validation) text of "
                         "their class is >= J (MinHash LSH; 0 or none: off)")
    cd.add_argument("--near-dup-shingle", type=int, default=3, metavar="N", help="words per shingle of the near-duplicate check")
    cd.add_argument("--generator", default=None, metavar="RUN_OR_CHECKPOINT",
                    help="the generator's run or checkpoint: both classes get its tokenizer, vocabulary and detokenization")
    cd.add_argument("--oov", choices=["auto", "unk", "drop", "keep", "delete"], default=None,
                    help="real tokens the generator cannot emit: auto (default with --generator: map to <unk>, and drop "
                         "every text holding <unk> on both sides when the sides hold it at different rates), unk, "
                         "drop the text, keep, delete (take them and every <unk> out of both sides: articles, which "
                         "nearly all hold <unk>, at a rate the generator does not copy)")
    cd.add_argument("--generator-train", default=None, metavar="TEXT",
                    help="what the generator was trained on, for the card (e.g. emnlp_news:valid)")
    cd.add_argument("--validation-fraction", type=float, default=0.1, help="share of the texts in validation")
    cd.add_argument("--test-fraction", type=float, default=0.1, help="share of the texts in test")
    cd.add_argument("--max-per-class", type=int, default=None,
                    help="cap on texts per class, over all splits (default: no cap)")
    cd.add_argument("--seed", type=int, default=0, help="random seed of the shuffling and of the detector (--report)")
    cd.add_argument("--report", action="store_true", help="also run the detectors (CNN, TF-IDF + logistic regression; zero-shot with --generator): report.md/.json, roc.png")
    cd.add_argument("--epochs", type=int, default=3, help="detector epochs (--report)")
    cd.add_argument("--detector-seeds", type=int, default=1, help="train the CNN detector with this many seeds (--report)")
    cd.add_argument("--transformer-detector", default=None, metavar="small|FOLDER",
                    help="also fine-tune a transformer classifier (--report): 'small' (a 2-layer BERT from a config) "
                         "or a local save_pretrained folder")
    cd.add_argument("--tokenizer", "--tokenize", dest="tokenize", choices=["whitespace", "nltk"], default="whitespace", help="detector tokens (--report)")
    cd.add_argument("--device", default="auto", help=f"detector device (--report): {_DEVICE_HELP}")
    cd.add_argument("--threads", type=int, default=None, help=_THREADS_HELP)
    cd.add_argument("--quiet", action="store_true", help="no progress bars")
    csh = command(csub, "shortcuts", "check a detection dataset for one-feature shortcuts between the classes "
                  "(form: white space, length, <unk>/OOV rate, characters of one class, columns; exit 1 when one is "
                  "found) and report content cues (casing, punctuation, character variety)")
    csh.add_argument("dataset", help="a folder written by `textgan corpus detection` (train.jsonl, test.jsonl)")
    cg = command(csub, "grid", "generate over temperature x top-p x top-k, detect each setting, name the hardest")
    cg.add_argument("checkpoint", metavar="RUN_OR_CHECKPOINT", help="the generator's run or checkpoint folder")
    cg.add_argument("--real", required=True, help="real texts: corpus NAME (every local split), NAME:SPLIT or a file")
    cg.add_argument("--out", required=True, help="grid folder: grid.md, grid.json, cells/ (rerun to resume)")
    cg.add_argument("--temperatures", default="0.7,1.0", metavar="T1,T2", help="temperatures (> 0)")
    cg.add_argument("--top-p", default="0.9,1.0", metavar="P1,P2", help="nucleus masses, in (0, 1] (1: no cut)")
    cg.add_argument("--top-k", default="0,40", metavar="K1,K2", help="top-k values (0: no limit)")
    cg.add_argument("-n", "--num", type=int, default=2000,
                    help="distinct generated texts per cell in its detection dataset (5 %% more are drawn)")
    cg.add_argument("--detectors", default="tfidf_logreg,zero_shot_loglik,zero_shot_logrank,cnn", metavar="D1,D2",
                    help="detectors: tfidf_logreg, zero_shot_loglik, zero_shot_logrank (under the generator), cnn")
    cg.add_argument("--seed", type=int, default=0, help="generation, dataset and detector seed (the same in every cell)")
    cg.add_argument("--real-max-tokens", type=int, default=None, metavar="K",
                    help="cut texts to their first K generator tokens (default: the generator's max_len - 1)")
    cg.add_argument("--real-label", action="append", default=None, metavar="LABEL",
                    help="keep only real rows with this label (repeatable)")
    cg.add_argument("--text-column", default=None, help="text column of a real user file (default: text)")
    cg.add_argument("--oov", choices=["unk", "drop", "keep", "delete"], default=None,
                    help="real tokens the generator cannot emit: unk (default; one rule for every cell), drop the "
                         "text (use it when the generator never saw <unk>: grid.md warns), keep, delete (them and "
                         "every <unk>, from both sides)")
    cg.add_argument("--epochs", type=int, default=2, help="CNN detector epochs")
    cg.add_argument("--batch-size", type=int, default=1000, help="texts sampled together")
    cg.add_argument("--tokenizer", "--tokenize", dest="tokenize", choices=["whitespace", "nltk"], default="whitespace",
                    help="CNN tokens and text statistics")
    cg.add_argument("--device", default="auto", help=_DEVICE_HELP)
    cg.add_argument("--threads", type=int, default=None, help=_THREADS_HELP)
    cg.add_argument("--quiet", action="store_true", help="no progress bars")
    ca = command(csub, "augment", "augmentation experiment: a classifier on real vs real + label-conditional generated "
                                  "texts, with bootstrap intervals")
    ca.add_argument("--real", required=True,
                    help="labelled corpus with train / validation / test splits: a NAME (e.g. fake_news/liar) or a folder")
    ca.add_argument("--generator", required=True, metavar="RUN_OR_CHECKPOINT",
                    help="the label-conditional generator (generator.type conditional_lstm)")
    ca.add_argument("--out", required=True, help="folder: augmentation.md, augmentation.json, generated/seed<S>.jsonl")
    ca.add_argument("--per-label", type=int, default=None, metavar="N",
                    help="generate N texts of every label (balanced; default: --ratio 1.0)")
    ca.add_argument("--ratio", type=float, default=None, metavar="R",
                    help="generate R x the real train texts used in each setting, split by --mix (default 1.0)")
    ca.add_argument("--mix", choices=["train", "balanced"], default=None,
                    help="labels of the generated texts with --ratio: the real train shares (default) or equal")
    ca.add_argument("--real-fraction", default="1.0", metavar="F1,F2",
                    help="shares of the real train texts used, stratified by label (e.g. 1.0,0.1: also a low-resource setting)")
    ca.add_argument("--seeds", default="0,1,2", metavar="S1,S2",
                    help="one run per seed (generated texts, real subsample, classifier); mean +- std over them")
    ca.add_argument("--classifier", choices=["tfidf_logreg", "cnn"], default="tfidf_logreg",
                    help="tfidf_logreg: word 1-2-gram TF-IDF + logistic regression, C chosen on real validation "
                         "macro-F1; cnn: SeqGAN's CNN from scratch, the epoch chosen on real validation macro-F1")
    ca.add_argument("--train-split", default="train", help="real train split")
    ca.add_argument("--validation-split", default=None, help="real validation split (default: validation, valid or dev)")
    ca.add_argument("--test-split", default="test", help="real test split (the generator must not have trained on it)")
    ca.add_argument("--label-map", default=None, metavar="GEN:CORPUS,...",
                    help="generator label -> corpus label where the names differ (the rest match by name)")
    ca.add_argument("--text-column", default=None, help="text column of a user corpus (default: text)")
    ca.add_argument("--label-column", default=None, help="label column of a user corpus (default: label)")
    ca.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples of the test texts (0: no intervals)")
    ca.add_argument("--temperature", type=float, default=1.0, help="sampling temperature")
    ca.add_argument("--keep-train-copies", action="store_true",
                    help="keep generated texts equal to a generator training text (default: dropped)")
    ca.add_argument("--device", default="auto", help=f"generation device: {_DEVICE_HELP}")
    ca.add_argument("--threads", type=int, default=None, help=_THREADS_HELP)
    ca.add_argument("--quiet", action="store_true", help="no per-run progress lines")
    c.set_defaults(func=_cmd_corpus)

    e = command(sub, "evaluate", "score generated texts (BLEU, Self-BLEU, novelty...) or sweep a run's temperature")
    e.add_argument("--samples", help="generated texts: .txt (one per line) or JSONL from `textgan generate`")
    e.add_argument("--references", help="reference texts for BLEU: a file or corpus (NAME or NAME:SPLIT; default split test)")
    e.add_argument("--train", help="training texts for novelty: a file or corpus (default split train)")
    e.add_argument("--metrics", default="bleu,self_bleu,distinct,novelty,length",
                   help="comma list of bleu, self_bleu, fbleu (forward/backward BLEU), ms_jaccard, distinct, "
                        "entropy, novelty, length, lm_score, reverse_lm_score, frechet, mauve; or all "
                        "(every metric whose inputs are given; see docs/evaluation.md)")
    e.add_argument("--smoothing", choices=["method1", "method0"], default="method1",
                   help="BLEU smoothing (method1: the text-GAN protocol)")
    e.add_argument("--blank-lines", choices=["drop", "keep"], default="drop",
                   help="blank sample lines: drop them, or keep them as empty sentences scoring 0 (Texygen)")
    e.add_argument("--fast-self-bleu", action="store_true",
                   help="Texygen's fast Self-BLEU: the first 500 samples, each against the other 499")
    e.add_argument("--fast-bleu", action="store_true", help="Texygen's fast BLEU: against the first 500 references")
    e.add_argument("--lm", default="lstm",
                   help="language model of lm_score/reverse_lm_score: lstm (textgan's LSTM, trained here) or a "
                        "local transformers causal-LM folder (fine-tuned here)")
    e.add_argument("--lm-epochs", type=int, default=None, help="most LM training epochs (early stopping)")
    e.add_argument("--lm-max-texts", type=int, default=None, help="cap on LM training texts (default: all)")
    e.add_argument("--encoder", default=None,
                   help="local transformers encoder folder for frechet/mauve (mean-pooled hidden states)")
    e.add_argument("--features", default=None, metavar="RUN",
                   help="features for frechet/mauve from a textgan run instead of --encoder: its discriminator's "
                        "(a run with checkpoints/discriminator) or an ADM's document embedding")
    e.add_argument("--device", default="cpu", help="device of the LM and encoder: cpu, cuda or auto")
    e.add_argument("--orders", default="2,3,4,5", help="n-gram orders, comma-separated")
    e.add_argument("--tokenizer", "--tokenize", dest="tokenize", choices=["whitespace", "nltk"], default="whitespace",
                   help="how texts are cut into words for the n-gram metrics (nltk: Treebank tokens, as Texygen)")
    e.add_argument("--run", action="append", help="run folder for a temperature sweep (repeat to draw several runs)")
    e.add_argument("--temperatures", default="0.7,0.85,1.0,1.2,1.5",
                   help="sampling temperatures of the sweep (--run), comma-separated")
    e.add_argument("--num-samples", type=int, default=2000, help="samples per temperature (--run)")
    e.add_argument("--plot-order", type=int, default=4, help="BLEU order drawn in the plot (--run)")
    e.add_argument("--sweep-metrics", default=None,
                   help="metrics of the temperature sweep (--run), comma list: any of --metrics' names, nll_test, "
                        "nll_oracle; or all (default: bleu,self_bleu,nll_test on text, nll_oracle,nll_test on the "
                        "synthetic oracle)")
    e.add_argument("--no-mle-baseline", action="store_true",
                   help="do not sweep the runs' checkpoints/mle as MLE baseline curves (--run)")
    e.add_argument("--quality", default=None,
                   help="quality column of the sweep's plot and summary (--run; default bleu{plot order}, or "
                        "nll_oracle on the synthetic oracle)")
    e.add_argument("--diversity", default=None,
                   help="diversity column of the sweep's plot and summary (--run; default self_bleu{plot order}, "
                        "or nll_test on the synthetic oracle)")
    e.add_argument("--seed", type=int, default=0, help="random seed of the sweep's samples (--run) and of the LM scores' training")
    e.add_argument("--out", help="JSON file (with --samples) or folder (with --run; default the first run)")
    e.add_argument("--threads", type=int, default=None, help=_THREADS_HELP)
    e.set_defaults(func=_cmd_evaluate)

    em = command(sub, "embed", "document vectors from a trained ADM (.npy, .parquet, .jsonl or a datasets folder)")
    em.add_argument("model_arg", nargs="?", default=None, metavar="MODEL",
                    help="ADM run folder or checkpoint folder (as `textgan generate RUN`; or --model)")
    em.add_argument("--model", default=None, help="ADM run folder or checkpoint folder (or give it first, as MODEL)")
    em.add_argument("--input", required=True, help="corpus name (with --split) or a .txt/.jsonl/.csv/.tsv file")
    em.add_argument("--out", required=True, help="output file: .npy (+ .ids.txt), .parquet or .jsonl (+ .meta.json)")
    em.add_argument("--split", default="test", help="split of a named corpus")
    em.add_argument("--text-column", default=None, help="column holding the text (default: text)")
    em.add_argument("--batch-size", type=int, default=4096, help="documents embedded together (memory against speed)")
    em.add_argument("--format", choices=["npy", "parquet", "jsonl", "hf"], default=None,
                    help="output format (default: --out's extension); hf: a datasets folder (save_to_disk)")
    em.add_argument("--shard-size", type=int, default=50_000,
                    help="documents per shard: the unit of resuming and of splitting over torchrun ranks")
    em.add_argument("--device", default="auto", help=_DEVICE_HELP)
    em.add_argument("--threads", type=int, default=None, help=_THREADS_HELP)
    em.add_argument("--quiet", action="store_true", help="no progress bar")
    em.set_defaults(func=_cmd_embed)

    b = command(sub, "bench", "speed benchmarks on this machine")
    b.add_argument("what", choices=["bleu", "discriminator", "rollout", "mle", "generation", "adm", "evaluate",
                                      "transformer", "detection"],
                   help="what to time: bleu, discriminator, rollout, mle (the SeqGAN MLE epoch: fused float32 / "
                        "bfloat16, plain, --anchor), generation, adm, evaluate (every metric) or "
                        "transformer (sampling, MLE epoch, adversarial step with cached rollouts) or detection "
                        "(a --num-text detection dataset and its report, default 100,000)")
    b.add_argument("--quick", action="store_true", help="fewer texts and batches (transformer)")
    b.add_argument("--model", choices=["seqgan", "leakgan"], default="seqgan", help="generator for `bench rollout`")
    b.add_argument("--threads", type=int, default=2, help="torch threads")
    b.add_argument("--num", type=int, default=None,
                   help="samples and references (bleu, evaluate; default 10,000), texts (detection; default 100,000), "
                        "sequences (mle; default 10,000)")
    b.add_argument("--generator", default=None,
                   help="detection: a run or checkpoint to generate from (default: an LSTM trained for the bench)")
    b.add_argument("--transformer", action="store_true", help="detection: also time the transformer detector")
    b.add_argument("--workdir", default=None,
                   help="detection: keep the prepared texts, generator and dataset here (default: a temporary folder)")
    b.add_argument("--encoder", default=None,
                   help="local transformers encoder folder for the Frechet timing (evaluate; default: a random small BERT)")
    b.add_argument("--no-lm", action="store_true", help="skip the LM scores (evaluate)")
    b.add_argument("--embed-docs", default=None, metavar="N,N",
                   help="adm: time `textgan embed` end to end (streamed JSONL, shards) on these document counts, "
                        "with its peak memory, instead of the training bench (e.g. 100000,1000000)")
    b.add_argument("--lm-epochs", type=int, default=None, help="most LM training epochs (evaluate)")
    b.add_argument("--nltk-subsample", type=int, default=20, help="samples timed with nltk (bleu)")
    b.add_argument("--num-rollouts", default="4,16", help="rollouts per prefix, comma-separated (leakgan)")
    b.add_argument("--compute-dtype", default="float32", help="discriminator products: float32 or bfloat16 (leakgan)")
    b.add_argument("--device", default=None,
                   help="discriminator: time the training code's discriminator epoch, MLE epoch and sampling on this "
                        "device (cpu, cuda, cuda:N), eager and as CUDA graphs, instead of the CPU kernel bench")
    b.add_argument("--anchor", default=None, metavar="DIR",
                   help="rollout (seqgan), mle: a TextGAN-PyTorch checkout; also time its MLE epoch on the same data")
    b.add_argument("--repeat", type=int, default=3, help="mle: interleaved rounds (the best is reported)")
    b.set_defaults(func=_cmd_bench)
    return p


# Subcommands that train or run models: they get ``runtime.keep_freed_memory()`` first
# (opt out with TEXTGAN_KEEP_FREED_MEMORY=0).
_COMPUTE_COMMANDS = frozenset({"run", "generate", "bench", "embed", "evaluate", "corpus"})


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (0 ok, 2 user error, 130 interrupted)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if args.command in _COMPUTE_COMMANDS and os.environ.get("TEXTGAN_KEEP_FREED_MEMORY", "1") != "0":
        # Training steps allocate and free tens of MB; keeping freed memory in the heap avoids
        # thousands of page faults per step (10-30% of a discriminator step on CPU).
        from .runtime import keep_freed_memory

        keep_freed_memory()
    threads_before = None
    try:
        if args.command != "bench" and getattr(args, "threads", None) is not None:  # --threads of a compute command
            import torch

            if args.threads < 1:
                raise TextganError(f"--threads must be a positive number, got {args.threads}: e.g. --threads 1")
            threads_before = torch.get_num_threads()
            torch.set_num_threads(args.threads)
        return args.func(args)
    except TextganError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # a full disk or a refused write: one line too (docs/errors.md)
        from .errors import fault_message

        message = fault_message(e, args.command)
        if message is None:
            raise
        print(f"error: {message}", file=sys.stderr)
        return 2
    finally:
        if threads_before is not None:  # in-process callers (tests, notebooks) keep their thread count
            import torch

            torch.set_num_threads(threads_before)


if __name__ == "__main__":
    sys.exit(main())
