"""The ``textgan`` command line: thin subcommands over :mod:`textgan.api`."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Sequence

from .errors import TextganError


def _cmd_run(args: argparse.Namespace) -> int:
    from . import api
    from .config import load_recipe, recipe_to_dict

    recipe = load_recipe(api.find_recipe(args.recipe), args.set)
    if args.dry_run:
        import yaml

        print(yaml.safe_dump(recipe_to_dict(recipe), sort_keys=False), end="")
        return 0
    result = api.train(recipe, out_dir=args.out, progress=not args.quiet)
    shown = "  ".join(f"{k}={v:.4f}" for k, v in result.metrics.items() if isinstance(v, float))
    print(f"run folder: {result.path}")
    print(f"final: {shown}  (wall time {result.wall_time_s:.1f} s)")
    return 0


def _cmd_generate(args: argparse.Namespace) -> int:
    from . import api

    out = api.generate(args.checkpoint, args.num, args.out, temperature=args.temperature, top_k=args.top_k,
                       top_p=args.top_p, seed=args.seed, batch_size=args.batch_size, device=args.device)
    print(f"wrote {args.num} texts to {out}")
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
    print(corpus.format_card(corpus.corpus_info(args.name)))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for documentation and tests)."""
    p = argparse.ArgumentParser(prog="textgan", description="Adversarial text generation and document modeling.")
    p.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="train a recipe end to end")
    r.add_argument("recipe", help="recipe YAML path or shipped name (see `textgan recipes`)")
    r.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a recipe key (repeatable)")
    r.add_argument("--out", default=None, help="run folder (default runs/<name>/<timestamp>)")
    r.add_argument("--dry-run", action="store_true", help="print the resolved recipe and exit")
    r.add_argument("--quiet", action="store_true", help="no progress bars")
    r.set_defaults(func=_cmd_run)

    g = sub.add_parser("generate", help="sample texts from a run or checkpoint into JSONL")
    g.add_argument("checkpoint", help="run folder or checkpoint folder")
    g.add_argument("--num", type=int, required=True)
    g.add_argument("--out", required=True)
    g.add_argument("--temperature", type=float, default=1.0)
    g.add_argument("--top-k", type=int, default=0)
    g.add_argument("--top-p", type=float, default=1.0)
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--batch-size", type=int, default=1000)
    g.add_argument("--device", default="auto")
    g.set_defaults(func=_cmd_generate)

    rc = sub.add_parser("recipes", help="list the shipped recipes")
    rc.set_defaults(func=_cmd_recipes)

    c = sub.add_parser("corpus", help="named corpora")
    csub = c.add_subparsers(dest="corpus_cmd", required=True)
    csub.add_parser("list", help="list named corpora")
    ci = csub.add_parser("info", help="show a corpus card")
    ci.add_argument("name")
    c.set_defaults(func=_cmd_corpus)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (0 ok, 2 user error, 130 interrupted)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except TextganError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
