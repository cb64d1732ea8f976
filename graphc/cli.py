"""The `graphc` command: train, eval, render and info (each with --help)."""
from __future__ import annotations

import argparse
import os
import sys

from . import script as scripts
from .errors import GraphcError
from .info import format_report, report
from .render import render


def _train(args) -> int:
    module = scripts.load(args.script)
    cfg = scripts.config_for(module, **{k: getattr(args, k) for k in scripts.FIELDS})
    cfg.fast, cfg.save, cfg.progress = args.fast, args.save, args.progress
    print(scripts.format_result(scripts.train(module, cfg)))
    return 0


def _eval(args) -> int:
    module = scripts.load(args.script)
    cfg = scripts.config_for(module, seed=args.seed, backend=args.backend)
    cfg.fast, cfg.save, cfg.progress = args.fast, None, False
    print(scripts.format_result(scripts.evaluate(module, cfg, args.load)))
    return 0


def _render(args) -> int:
    module = scripts.load(args.script)
    target, values = scripts.render_target(module, view=args.view, seed=args.seed or 0)
    if args.view == "compiled":
        target = scripts.compiled_step(module, target, values)
    out = args.output or f"{os.path.splitext(os.path.basename(args.script))[0]}_{args.view}.svg"
    render(target, view=args.view, values=values if args.view == "values" else None, path=out,
           collapse={"auto": "auto", "yes": True, "no": False}[args.collapse])
    print(f"wrote {out}")
    return 0


def _info(args) -> int:
    print(format_report(report()))
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="graphc", description="graphc: declare, differentiate, compile, train and draw neural networks.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    t = sub.add_parser("train", help="train a script's model", description="Train the model a script declares "
                       "(see graphc.script) and print `result: key=value ...`.")
    t.add_argument("script", help="a training script (data, model, loss; see graphc/script.py)")
    scripts.add_train_arguments(t)
    t.set_defaults(run=_train)

    e = sub.add_parser("eval", help="evaluate saved parameters", description="Evaluate parameters saved by "
                       "`graphc train --save` on the script's test set.")
    e.add_argument("script")
    e.add_argument("--load", required=True, help="the .npz written by `graphc train --save`")
    e.add_argument("--seed", type=int, help="the data split's seed (default: the script's)")
    e.add_argument("--backend")
    e.add_argument("--fast", action="store_true", help="the script's small data subset")
    e.set_defaults(run=_eval)

    r = sub.add_parser("render", help="draw a script's graphs", description="Draw the forward, backward, combined, "
                       "values or compiled graph of a training script (its loss on a small batch) or of a graph "
                       "script (one defining `build()` returning tensors, or a top-level `loss`).")
    r.add_argument("script")
    r.add_argument("--view", default="backward", choices=["forward", "backward", "both", "values", "compiled"])
    r.add_argument("-o", "--output", help="output file: .svg, .png, .pdf or .dot (default: SCRIPT_VIEW.svg)")
    r.add_argument("--collapse", default="auto", choices=["auto", "yes", "no"], help="draw each module as one node")
    r.add_argument("--seed", type=int)
    r.set_defaults(run=_render)

    i = sub.add_parser("info", help="what this installation can use", description="Version, backends, BLAS, CPU "
                       "features, Graphviz and GPU.")
    i.set_defaults(run=_info)
    return p


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.run(args)
    except scripts.ScriptError as e:  # the user's own traceback, not graphc's
        print(str(e), file=sys.stderr)
        return 1
    except GraphcError as e:
        print(f"graphc: {type(e).__name__}: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
