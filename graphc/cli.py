"""The `graphc` command: train, eval, render, export, bench, info and cache (each with --help), every failure in one line."""
from __future__ import annotations

import argparse
import os
import sys

from . import runtime, script as scripts, script_views
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


def _export(args) -> int:
    module = scripts.load(args.script)
    cfg = scripts.config_for(module, seed=args.seed)
    cfg.fast, cfg.save, cfg.progress = args.fast, None, False
    print(scripts.format_result(scripts.export(module, cfg, args.output, args.load)))
    return 0


def _onnx_target(path: str, view: str):
    """An ONNX model's outputs to draw; the backward views differentiate the sum of its (float) outputs with
    respect to its parameters."""
    from . import onnx as gc_onnx  # reading a model file needs the optional onnx package, imported on use
    from .dsl import sum as total

    model = gc_onnx.load(path)
    outputs = [t for t in model.outputs.values() if t.dtype.kind == "f"] or list(model.outputs.values())
    if view in ("backward", "both"):
        loss = outputs[0] if len(outputs) == 1 and not outputs[0].shape else None
        if loss is None:
            loss = total(outputs[0])
            for t in outputs[1:]:
                loss = loss + total(t)
        return loss
    return outputs


def _render(args) -> int:
    if args.script.lower().endswith(".onnx"):
        if args.view not in ("forward", "backward", "both"):
            raise scripts.ScriptError(f"{args.script}: an ONNX model draws as forward, backward or both")
        out = args.output or f"{os.path.splitext(os.path.basename(args.script))[0]}_{args.view}.svg"
        render(_onnx_target(args.script, args.view), view=args.view, path=out,
               collapse={"auto": "auto", "yes": True, "no": False}[args.collapse])
        print(f"wrote {out}")
        return 0
    module = scripts.load(args.script)
    target, values = script_views.render_target(module, view=args.view, seed=args.seed or 0)
    if args.view in ("compiled", "memory"):
        target = script_views.compiled_step(module, target, values)
    out = args.output or f"{os.path.splitext(os.path.basename(args.script))[0]}_{args.view}.svg"
    if args.view == "memory":
        render(target, view="memory", path=out)
    else:
        render(target, view=args.view, values=values if args.view == "values" else None, path=out,
               collapse={"auto": "auto", "yes": True, "no": False}[args.collapse])
    print(f"wrote {out}")
    return 0


def _bench(args) -> int:
    module = scripts.load(args.script)
    names = args.backend or [b for b in runtime.available_backends() if b != "reference" and not (
        getattr(runtime.BACKENDS[b], "unavailable", None) and runtime.BACKENDS[b].unavailable())]
    rows = []
    for name in names:
        cfg = scripts.config_for(module, seed=args.seed, backend=name, batch_size=args.batch_size)
        cfg.fast, cfg.save, cfg.progress = args.fast, None, False
        rows.append(scripts.bench(module, cfg, args.steps))
    fastest = min(r["step_s"] for r in rows)
    print(f"{'backend':<10} {'batch':>5} {'first call':>11} {'step':>10} {'x fastest':>9}")
    for r in rows:
        print(f"{r['backend']:<10} {r['batch']:>5} {r['first_call_s']:>10.3f}s {r['step_s'] * 1e3:>8.3f}ms "
              f"{r['step_s'] / fastest:>9.2f}")
    return 0


def _backends(text: str) -> list[str]:
    """--backend a,b for bench: each checked like train's --backend."""
    check = scripts.field_type("backend", str)
    return [check(name.strip()) for name in text.split(",") if name.strip()]


def _info(args) -> int:
    print(format_report(report()))
    return 0


def _cache(args) -> int:
    """`graphc cache info|clear` for every backend that keeps compiled code on disk (found through the registry)."""
    found = False
    for name in runtime.available_backends():
        builder = runtime.BACKENDS.get(name)
        if builder is None or not hasattr(builder, "cache_info"):
            continue
        found = True
        if args.action == "clear":
            print(f"{name}: removed {builder.cache_clear()} file(s) from {builder.cache_info()['directory']}")
        else:
            i = builder.cache_info()
            print(f"{name}: {i['entries']} entr{'y' if i['entries'] == 1 else 'ies'}, {i['bytes']} bytes in {i['directory']}")
    if not found:
        print("no backend keeps a cache")
    return 0


def _debug_flag(p: argparse.ArgumentParser, default):
    # SUPPRESS on the subcommands: their unset default would overwrite `graphc --debug` given before them
    p.add_argument("--debug", action="store_true", default=default,
                   help="on failure, show the full traceback instead of one line")


def parser() -> argparse.ArgumentParser:
    p = scripts.ArgumentParser(prog="graphc", description="graphc: declare, differentiate, compile, train and draw "
                               "neural networks.")
    _debug_flag(p, False)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    seed = scripts.field_type("seed", int)

    t = sub.add_parser("train", help="train a script's model", description="Train the model a script declares "
                       "(see graphc.script) and print `result: key=value ...`.")
    t.add_argument("script", help="a training script (data, model, loss; see graphc/script.py)")
    scripts.add_train_arguments(t)
    t.set_defaults(run=_train)

    e = sub.add_parser("eval", help="evaluate saved parameters", description="Evaluate parameters saved by "
                       "`graphc train --save` on the script's test set.")
    e.add_argument("script")
    e.add_argument("--load", required=True, type=scripts.path_type, help="the .npz written by `graphc train --save`")
    e.add_argument("--seed", type=seed, help="the data split's seed (default: the script's)")
    e.add_argument("--backend", type=scripts.field_type("backend", str))
    e.add_argument("--fast", action="store_true", help="the script's small data subset")
    e.set_defaults(run=_eval)

    r = sub.add_parser("render", help="draw a script's graphs", description="Draw the forward, backward, combined, "
                       "values or compiled graph of a training script (its loss on a small batch) or of a graph "
                       "script (one defining `build()` returning tensors, or a top-level `loss`; the values view "
                       "also needs a top-level `values = {input name: array}`), or an ONNX model file (forward, "
                       "backward or both; the backward graph of the sum of its outputs).")
    r.add_argument("script")
    r.add_argument("--view", default="backward", choices=["forward", "backward", "both", "values", "compiled", "memory"])
    r.add_argument("-o", "--output", type=scripts.path_type,
                   help="output file: .svg, .png, .pdf or .dot (default: SCRIPT_VIEW.svg)")
    r.add_argument("--collapse", default="auto", choices=["auto", "yes", "no"], help="draw each module as one node")
    r.add_argument("--seed", type=seed)
    r.set_defaults(run=_render)

    x = sub.add_parser("export", help="write a script's model as ONNX", description="Write the inference graph of "
                       "a training script's model (dropout off, batch norm with its running statistics; the batch "
                       "dynamic) as an ONNX model, with the parameters saved by `graphc train --save` (needs the onnx "
                       "extra: pip install 'graphc-compiler[onnx]').")
    x.add_argument("script")
    x.add_argument("--load", type=scripts.path_type, help="the .npz written by `graphc train --save` (default: the "
                   "script's initial parameters)")
    x.add_argument("-o", "--output", required=True, type=scripts.output_path_type, help="the .onnx file to write")
    x.add_argument("--seed", type=seed)
    x.add_argument("--fast", action="store_true", help="the script's small data subset")
    x.set_defaults(run=_export)

    b = sub.add_parser("bench", help="time a script's training step per backend", description="Time the compiled "
                       "training step of a script's model on each backend (the first call, which compiles or loads "
                       "from the cache, and the median step), on one batch of its training data.")
    b.add_argument("script")
    b.add_argument("--backend", type=_backends, help="comma list (default: every available backend but 'reference')")
    b.add_argument("--batch-size", type=scripts.field_type("batch_size", int), help="rows per step (default: the script's)")
    b.add_argument("--steps", type=scripts.field_type("epochs", int), default=50, help="timed steps after the first (default 50)")
    b.add_argument("--seed", type=seed, help="data and initialisation seed (default: the script's)")
    b.add_argument("--fast", action="store_true", help="the script's small data subset")
    b.set_defaults(run=_bench)

    i = sub.add_parser("info", help="what this installation can use", description="Version, backends, BLAS, CPU "
                       "features, Graphviz and GPU.")
    i.set_defaults(run=_info)

    c = sub.add_parser("cache", help="the compiled-code cache", description="Show (info) or empty (clear) the "
                       "on-disk cache of compiled code ($GRAPHC_CACHE_DIR/<backend>, else ~/.cache/graphc/<backend>).")
    c.add_argument("action", choices=["info", "clear"])
    c.set_defaults(run=_cache)
    for command in (t, e, r, x, b, i, c):
        _debug_flag(command, argparse.SUPPRESS)
    return p


def main(argv=None) -> int:
    """Run the command line; returns the exit status (2 for a bad argument, 1 for a failure, 130 when
    interrupted), having printed any failure as one line on stderr."""
    try:
        args = parser().parse_args(argv)
    except SystemExit as e:  # argparse has printed its one line (or the help): report its status
        return e.code if isinstance(e.code, int) else 0 if e.code is None else 2
    return scripts.report(lambda: args.run(args), debug=args.debug)


if __name__ == "__main__":
    sys.exit(main())
