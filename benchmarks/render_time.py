"""Time gc.render (graph analysis + Graphviz layout to SVG) on the largest graphs the examples build.

Run: python benchmarks/render_time.py [--views forward,backward,both] [--collapse no,yes] [--engine dot]

Workloads: a LeNet-like CNN's loss and parameter gradients (conv2d/relu/max_pool2d twice, three
matmuls, log-softmax cross-entropy), the same with its Adam training-step updates, a deeper CNN
(four conv blocks), and stacks of 6 and 12 conv blocks with Adam updates (stress tests). Each row: nodes drawn, seconds to build the drawing, seconds for `dot`
to lay it out as SVG. The budget is 5 s for any example's full forward + backward drawing.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import graphc as gc


def _params(rng):
    def p(name, shape):
        return gc.param(name, (rng.normal(size=shape) * 0.1).astype(np.float32))
    return p


def lenet(batch=None, blocks=((1, 6, 5, 2), (6, 16, 5, 0)), fcs=(400, 120, 84, 10), size=28):
    """(loss, grads): conv blocks (in, out, kernel, padding) each with relu and 2×2 max-pool, then fcs."""
    rng = np.random.default_rng(0)
    p = _params(rng)
    x = gc.input("x", (batch, blocks[0][0], size, size))
    y = gc.input("y", (batch, fcs[-1]))
    h = x
    for i, (cin, cout, k, pad) in enumerate(blocks, 1):
        with gc.scope(f"conv{i}"):
            h = gc.relu(gc.conv2d(h, p("w", (cout, cin, k, k)), p("b", (cout,)), padding=pad), name="h")
        with gc.scope(f"pool{i}"):
            h = gc.max_pool2d(h, 2)
    h = gc.reshape(h, (-1, fcs[0]), name="flat")
    for i, (a, b) in enumerate(zip(fcs[:-1], fcs[1:]), 1):
        with gc.scope(f"fc{i}"):
            z = gc.add(h @ p("w", (a, b)), p("b", (b,)), name="z")
            h = gc.relu(z, name="h") if i < len(fcs) - 1 else z
    with gc.scope("loss"):
        loss = gc.mean(-gc.sum(y * gc.log_softmax(h), axis=1), name="L")
    params = [gc.Tensor.of(n) for n in gc.graph(loss).params]
    return loss, gc.grad(loss, params)


def lenet_adam():
    """LeNet's loss, gradients and Adam updates (what one training step computes)."""
    loss, _ = lenet()
    params = [gc.Tensor.of(n) for n in gc.graph(loss).params]
    updates = gc.optim.Adam(params, lr=1e-3).updates(loss)
    return loss, list(updates.values())


def deep_cnn():
    """Four conv blocks (3×3, padding 1) on 32×32 inputs, then three matmuls."""
    return lenet(blocks=((3, 8, 3, 1), (8, 16, 3, 1), (16, 32, 3, 1), (32, 32, 3, 1)), fcs=(128, 64, 32, 10), size=32)


def conv_stack_adam(blocks: int):
    """`blocks` conv blocks (3×3, 8 channels) on a large input, three matmuls, and Adam updates."""
    size = 2 ** (blocks + 1)
    loss, _ = lenet(blocks=tuple((3 if i == 0 else 8, 8, 3, 1) for i in range(blocks)), fcs=(8 * (size >> blocks) ** 2, 32, 10),
                    size=size)
    params = [gc.Tensor.of(n) for n in gc.graph(loss).params]
    return loss, list(gc.optim.Adam(params, lr=1e-3).updates(loss).values())


WORKLOADS = {"lenet": lenet, "lenet_adam": lenet_adam, "deep_cnn": deep_cnn,
             "cnn6_adam": lambda: conv_stack_adam(6), "cnn12_adam": lambda: conv_stack_adam(12)}


def measure(name, view, collapse, layout=None):
    loss, rest = WORKLOADS[name]()
    t0 = time.perf_counter()
    dg = gc.render([loss] + list(rest), view=view, collapse=collapse, layout=layout)
    t1 = time.perf_counter()
    svg = dg.pipe(format="svg")
    t2 = time.perf_counter()
    nodes = sum(1 for line in dg.source.splitlines() if "[label=" in line and "->" not in line)
    return dict(workload=name, view=view, collapse=collapse, nodes=nodes, build_s=t1 - t0, dot_s=t2 - t1, svg_kb=len(svg) // 1024)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workloads", default=",".join(WORKLOADS))
    ap.add_argument("--views", default="forward,backward,both")
    ap.add_argument("--collapse", default="no,yes")
    ap.add_argument("--layout", default="", help="extra graph attributes, e.g. splines=ortho,engine=sfdp")
    ap.add_argument("--dot-defaults", action="store_true", help="do not bound dot's effort on large drawings (for comparison)")
    args = ap.parse_args(argv)
    if args.dot_defaults:
        from graphc.render import output

        output.BIG = output.HUGE = float("inf")
    layout = dict(kv.split("=", 1) for kv in args.layout.split(",") if kv) or None
    print(f"{'workload':<11} {'view':<9} {'collapse':<8} {'nodes':>5} {'build s':>8} {'dot s':>7} {'svg KB':>7}")
    worst = 0.0
    for name in args.workloads.split(","):
        for view in args.views.split(","):
            for c in args.collapse.split(","):
                r = measure(name, view, {"no": False, "yes": True, "auto": "auto"}[c], layout)
                worst = max(worst, r["build_s"] + r["dot_s"])
                print(f"{r['workload']:<11} {r['view']:<9} {c:<8} {r['nodes']:>5} {r['build_s']:>8.2f} {r['dot_s']:>7.2f} {r['svg_kb']:>7}")
    print(f"slowest drawing: {worst:.2f} s (budget 5 s)")
    return worst


if __name__ == "__main__":
    main()
