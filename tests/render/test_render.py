"""gc.render: labels, derivative formulas and values in the SVG text, views, collapsing, output, CLI."""
from __future__ import annotations

import os
import re
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import sympy

import graphc as gc
from graphc import scalar
from graphc.errors import GraphcError, RenderError
from graphc.render import COLLAPSE_AUTO
from graphc.render.formulas import fmt
from graphc.render.labels import summarize

ROOT = Path(__file__).resolve().parents[2]
SVG = "{http://www.w3.org/2000/svg}"


# -- helpers ---------------------------------------------------------------------------------
def parse(svg: str):
    """(texts of each node by its DOT id, [(tail, head, attributes of the edge path)], all texts)."""
    root = ET.fromstring(svg.encode("utf-8"))
    nodes, edges = {}, []
    for g in root.iter(SVG + "g"):
        title = g.find(SVG + "title")
        if title is None:
            continue
        if g.get("class") == "node":
            nodes[title.text] = [t.text or "" for t in g.iter(SVG + "text")]
        elif g.get("class") == "edge":
            tail, head = title.text.split("->")
            path = g.find(SVG + "path")
            edges.append((tail, head, dict(path.attrib) if path is not None else {}))
    return nodes, edges, [t.text or "" for t in root.iter(SVG + "text")]


def node_y(svg: str) -> dict:
    """The vertical position of each node's first text line (SVG y grows downwards)."""
    root = ET.fromstring(svg.encode("utf-8"))
    out = {}
    for g in root.iter(SVG + "g"):
        if g.get("class") == "node":
            out[g.find(SVG + "title").text] = float(next(g.iter(SVG + "text")).get("y"))
    return out


def network_111():
    """Course example 6: z1 = w1·x + b1, a1 = σ(z1), ŷ = w2·a1 + b2, L = (y − ŷ)²."""
    x, y = gc.input("x", ()), gc.input("y", ())
    w1, b1 = gc.param("w1", np.float32(0.5)), gc.param("b1", np.float32(0.1))
    w2, b2 = gc.param("w2", np.float32(-0.3)), gc.param("b2", np.float32(0.2))
    a1 = gc.sigmoid(gc.add(w1 * x, b1, name="z1"), name="a1")
    yhat = gc.add(w2 * a1, b2, name="yhat")
    L = gc.square(y - yhat, name="L")
    return L, (w1, b1, w2, b2)


# -- formulas ----------------------------------------------------------------------------------
def test_formula_printer_reads_like_the_course():
    z, y = sympy.Symbol("z1"), scalar.Y
    assert fmt(y * (1 - y), {y: "σ(z1)"}) == "σ(z1)(1 − σ(z1))"
    a, b = scalar.ARGS[:2]
    assert fmt(2 * a, {a: "(y − ŷ)"}) == "2(y − ŷ)"
    assert fmt(a * b, {a: "w2", b: "a1"}) == "w2·a1"  # operand order, not sympy's alphabetical order
    assert fmt(a - b, {a: "z", b: "w"}) == "z − w"
    assert fmt(1 / (2 * sympy.sqrt(z))) == "1/(2·√z1)"
    assert fmt(1 - sympy.tanh(z) ** 2) == "1 − tanh(z1)²"
    assert fmt(sympy.Heaviside(z, 0)) == "[z1 > 0]"
    assert fmt(scalar.sigmoid(z)) == "σ(z1)"


def test_summarize_prints_small_values_and_summarises_large_ones():
    assert summarize(np.float32(0.25)) == "0.25"
    assert summarize(np.array([1.0, -2.0], np.float32)) == "[1, -2]"
    # significant digits, for arrays as for scalars: a vanishing gradient never reads as 0
    assert summarize(np.array([5e-5, -1.25e-7, 0.125], np.float32)) == "[5e-05, -1.25e-07, 0.125]"
    assert summarize(np.float32(5e-5)) == "5e-05"
    big = summarize(np.arange(100, dtype=np.float32).reshape(10, 10))
    assert big.startswith("10×10") and "mean 49.5" in big and "min 0" in big and "max 99" in big


# -- forward ---------------------------------------------------------------------------------
def test_forward_view_names_ops_shapes_dtypes_and_scopes():
    x = gc.input("x", (None, 3))
    with gc.scope("layer1"):
        w = gc.param("w", np.ones((3, 2), np.float32))
        h = gc.sigmoid(gc.add(x @ w, 0.5, name="z"), name="h")
    out = gc.sum(gc.cast(h, "float64") * 2.0, name="total")
    svg = gc.render(out, view="forward").svg()
    nodes, edges, texts = parse(svg)
    by_label = {tuple(v): k for k, v in nodes.items()}
    assert ("sigmoid", "h") in by_label and ("add", "z") in by_label and ("sum", "total") in by_label
    assert ("x",) in by_label and ("w",) in by_label and ("0.5",) in by_label
    assert "[N,3]" in texts and "[3,2]" in texts and "[N,2]" in texts  # edges carry shapes (the batch dim N, as in formulas)
    assert "f64[N,2]" in texts  # and the dtype where it is not float32
    assert "layer1" in texts  # the scope is a cluster
    root = ET.fromstring(svg.encode())
    fills = {}
    for g in root.iter(SVG + "g"):
        if g.get("class") == "node":
            shape = next(e for e in g if e.tag in (SVG + "polygon", SVG + "path", SVG + "ellipse"))
            fills[tuple(nodes[g.find(SVG + "title").text])] = shape.get("fill")
    assert len({fills[("x",)], fills[("w",)], fills[("0.5",)], fills[("sigmoid", "h")]}) == 4  # input/param/const/op differ


# -- backward --------------------------------------------------------------------------------
def test_backward_111_shows_the_closed_form_chain_rule_on_its_edges():
    L, (w1, b1, w2, b2) = network_111()
    svg = gc.render(L, view="backward").svg()
    nodes, edges, texts = parse(svg)
    label = {k: " ".join(v) for k, v in nodes.items()}
    find = lambda text: next(k for k, v in label.items() if v.startswith(text))  # noqa: E731
    seed = find("∂L/∂L = 1")
    dz = find("∂L/∂(y − ŷ) =")
    dyhat, da1, dz1, dw1 = find("∂L/∂ŷ ="), find("∂L/∂a1 ="), find("∂L/∂z1 ="), find("∂L/∂w1 =")
    # each node applies one local derivative: the factors of ∂L/∂w1 = −2(y − ŷ)·w2·σ(z1)(1 − σ(z1))·x
    assert label[dz] == "∂L/∂(y − ŷ) = ∂L/∂L · 2(y − ŷ)"
    assert label[dyhat].startswith("∂L/∂ŷ = −∂L/∂(y − ŷ)") and "= ∂L/∂b2" in label[dyhat]
    assert label[da1] == "∂L/∂a1 = ∂L/∂ŷ · w2"
    assert label[dz1].startswith("∂L/∂z1 = ∂L/∂a1 · σ(z1)(1 − σ(z1))") and "= ∂L/∂b1" in label[dz1]
    assert label[dw1] == "∂L/∂w1 = ∂L/∂z1 · x"
    # ... read off the edges: the gradient path from the seed to ∂L/∂w1 passes every factor in order
    grad_edges = {(t, h) for t, h, a in edges if "stroke-dasharray" not in a}
    for step in [(seed, dz), (dz, dyhat), (dyhat, da1), (da1, dz1), (dz1, dw1)]:
        assert step in grad_edges, step
    # the forward values reused (saved activations) arrive on dashed, coloured edges
    saved = {(label[t], label[h]) for t, h, a in edges if "stroke-dasharray" in a}
    assert ("x", label[dw1]) in saved and ("w2", label[da1]) in saved and ("a1", label[dz1]) in saved
    assert all(a.get("stroke") == "#2563eb" for t, h, a in edges if "stroke-dasharray" in a)
    ys = node_y(svg)
    assert ys[seed] <= min(ys.values()) + 1  # the seed on top (saved values may share its rank)
    assert all(ys[seed] < ys[k] for k in (dz, dyhat, da1, dz1, dw1))


def test_values_view_annotates_values_and_gradients():
    L, (w1, b1, w2, b2) = network_111()
    x0, y0 = 1.5, 0.8
    nodes, _, texts = parse(gc.render(L, view="values", values={"x": x0, "y": y0}).svg())
    z1 = 0.5 * x0 + 0.1
    s = 1 / (1 + np.exp(-z1))
    yhat = -0.3 * s + 0.2
    closed_form = -2 * (y0 - yhat) * -0.3 * s * (1 - s) * x0
    w1_rows = next(v for v in nodes.values() if v[0] == "w1")
    assert w1_rows == ["w1", "value 0.5", f"grad {closed_form:.4g}"]
    a1_rows = next(v for v in nodes.values() if v[0].startswith("a1"))
    assert a1_rows[1] == f"value {s:.4g}"
    loss_rows = next(v for v in nodes.values() if v[0].startswith("L"))
    assert loss_rows[1:] == [f"value {(y0 - yhat) ** 2:.4g}", "grad 1"]


def test_values_view_summarises_large_arrays():
    x = gc.input("x", (None, 4))
    w = gc.param("w", np.full((4, 3), 0.5, np.float32))
    loss = gc.mean(gc.relu(x @ w), name="loss")
    X = np.arange(40, dtype=np.float32).reshape(10, 4)
    _, _, texts = parse(gc.render(loss, view="values", values={x: X}).svg())
    assert any(t.startswith("value 10×4: mean 19.5, min 0, max 39") for t in texts)
    assert "grad 1" in texts


def test_matmul_and_reduction_labels_come_from_the_ops():
    x = gc.input("x", (None, 3))
    W = gc.param("W", np.ones((3, 2), np.float32))
    z = gc.matmul(x, W, name="z")
    m = gc.max(gc.tanh(z, name="t"), axis=1, name="m")
    loss = gc.sum(m, name="L")
    _, _, texts = parse(gc.render(loss, view="backward").svg())
    joined = "\n".join(texts)
    assert "∂L/∂W = xᵀ·∂L/∂z" in texts
    assert "∂L/∂m = broadcast(∂L/∂L)" in texts
    assert "∂L/∂t = broadcast(∂L/∂m) ⊙ [t = max] (ties share)" in texts
    assert "∂L/∂z = ∂L/∂t ⊙ 1 − tanh(z)²" in joined or "∂L/∂z = ∂L/∂t ⊙ (1 − tanh(z)²)" in joined


def test_every_differentiable_op_describes_its_derivative():
    """Non-elementwise ops state a vjp_label (elementwise ones carry their local derivative instead)."""
    from graphc.ops import REGISTRY, Op

    missing = [name for name, op in REGISTRY.items() if op.differentiable and op.kind != "elementwise"
               and type(op).vjp_label is Op.vjp_label]
    assert not missing
    x = gc.input("x", (2, 1, 4, 4))
    w = gc.param("w", np.ones((2, 1, 2, 2), np.float32))
    f = gc.reshape(gc.avg_pool2d(gc.conv2d(x, w, padding=1), 2), (2, -1), name="f")
    s = gc.concat([f[:, :3], gc.pad(f, ((0, 0), (1, 0)))[:, :2]], axis=1)
    t = gc.take(s, gc.const(np.array([0, 2, 1])), axis=1, name="t")
    u = gc.where(t > 0, t, 0.5 * t)
    v = gc.prod(gc.cast(u, "float64"), axis=1) + gc.min(gc.broadcast_to(gc.transpose(u), (4, 3, 2)))
    dg = gc.render(gc.sum(v, name="L"), view="backward", wrt=[w])
    assert "vjp of" not in dg.source  # no generic fallback label anywhere
    assert "∂L/∂f = ∂L/∂f (via " in dg.source  # f is used twice: its two contributions are added
    dg.pipe(format="svg")


def test_a_user_defined_activation_gets_its_derivative_label_for_free():
    softsign = gc.elementwise("softsign_render_test", lambda t: t / (1 + sympy.Abs(t)))
    x = gc.input("x", ())
    w = gc.param("w", np.float32(2.0))
    loss = softsign(gc.mul(w, x, name="u"), name="s")
    _, _, texts = parse(gc.render(loss, view="backward").svg())
    label = next(t for t in texts if t.startswith("∂s/∂u ="))
    assert "u" in label and "|u|" in label  # sympy.diff of the formula, in the operand's name


def test_mean_error_gradient_never_reads_the_target_but_mse_does():
    """Course example 7, as the student sees it: no edge from y into the mean error's backward graph."""
    x, y = gc.input("x", (None,)), gc.input("y", (None,))
    w = gc.param("w", np.float32(0.5))
    yhat = gc.mul(w, x, name="yhat")
    err = gc.mean(y - yhat, name="J")
    mse = gc.mean(0.5 * gc.square(y - yhat), name="J")  # shares y − ŷ and VJP nodes with err
    _, e_err, _ = parse(gc.render(err, view="backward", wrt=[w]).svg())
    nodes, e_mse, texts = parse(gc.render(mse, view="backward", wrt=[w]).svg())
    y_node = f"n{y.node.id}"
    assert all(y_node != t for t, h, a in e_err)
    assert any(nodes[t] == ["(y − ŷ)"] for t, h, a in e_mse)  # MSE reuses y − ŷ
    # labels belong to this loss even though hash-consing shares the mean's VJP node with err's
    assert "∂J/∂(0.5(y − ŷ)²) = broadcast(∂J/∂J) / N"  # the count averaged over, in the batch notation in texts


def test_both_view_links_forward_and_backward():
    L, params = network_111()
    grads = gc.grad(L, list(params))
    dg = gc.render([L] + grads)  # default view for [loss, *grads]: both
    nodes, edges, texts = parse(dg.svg())
    assert "forward" in texts and any(t.startswith("backward") for t in texts)
    fwd_a1 = next(k for k, v in nodes.items() if v == ["sigmoid", "a1"])
    assert any(t == fwd_a1 and "stroke-dasharray" in a for t, h, a in edges)  # the saved activation links the sides


def test_backward_view_needs_a_scalar_loss_or_gradients():
    x = gc.input("x", (3,))
    with pytest.raises(RenderError, match="scalar"):
        gc.render(gc.relu(x), view="backward")
    with pytest.raises(RenderError, match="unknown view"):
        gc.render(gc.relu(x), view="sideways")


# -- compiled --------------------------------------------------------------------------------
def test_compiled_view_draws_kernels_and_buffers_by_role():
    x = gc.input("x", (None, 2))
    w = gc.param("w", np.ones((2, 1), np.float32))
    loss = gc.mean(gc.sigmoid(x @ w), name="loss")
    fn = gc.compile([loss, gc.grad(loss, w)], backend="numpy")
    with pytest.raises(RenderError, match="call the function once"):
        gc.render(fn, view="compiled")
    fn(x=np.ones((4, 2), np.float32))
    nodes, edges, texts = parse(gc.render(fn).svg())
    kernels = [v for k, v in nodes.items() if re.fullmatch(r"k\d+", k)]
    assert len(kernels) == len(fn.backend.last.program.kernels)
    assert any(v[0].endswith("Gemm") and "in_x" in v[1] for v in kernels)
    assert any("Loop (add over axes" in v[0] for v in kernels)
    input_edges = [a for t, h, a in edges if nodes.get(t, [""])[0] == "in_x"]
    param_edges = [a for t, h, a in edges if nodes.get(t, [""])[0] == "p_w"]
    assert input_edges and param_edges
    assert {a["stroke"] for a in input_edges} == {"#2563eb"} and {a["stroke"] for a in param_edges} == {"#b45309"}


def test_a_fused_kernel_is_a_cluster_named_by_its_formula_around_the_ops_it_implements():
    x = gc.input("x", (None, 3))
    w = gc.param("w", np.ones((3, 2), np.float32))
    b = gc.param("b", np.zeros(2, np.float32))
    y = gc.tanh(x @ w + b, name="act")
    fn = gc.compile([y, gc.sum(gc.exp(y * 2.0 - 1.0))])
    fn(x=np.ones((4, 3), np.float32))
    svg = gc.render(fn, view="compiled").svg()
    _, _, texts = parse(svg)
    assert any("fused: tanh((in_x @ p_w) + p_b)" in t for t in texts)       # the Gemm and its epilogue (y)
    assert any(t.startswith("#") and "fused: exp((t_act · 2) − 1)" in t for t in texts)  # the sum with its producers
    assert "tanh 'act'" in texts and any(t.startswith("exp 'exp") for t in texts)  # the graph ops inside
    clusters = re.findall(r'<g id="clust\d+" class="cluster">', svg)
    assert len(clusters) >= 2


# -- large graphs ----------------------------------------------------------------------------
def _lenet():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import render_time
    finally:
        sys.path.pop(0)
    return render_time


def test_collapsing_modules_reduces_the_node_count():
    rt = _lenet()
    loss, grads = rt.lenet()
    count = lambda dg: len(re.findall(r"^\s*\w+ \[label=", dg.source, re.M))  # noqa: E731
    full = gc.render([loss] + grads, view="both", collapse=False)
    small = gc.render([loss] + grads, view="both", collapse=True)
    assert count(full) > COLLAPSE_AUTO and count(small) < count(full) / 4
    _, _, texts = parse(small.svg())
    assert "conv1" in texts and "∇ conv1" in texts  # one node per module, forward and backward
    assert count(gc.render([loss] + grads, view="both")) == count(small)  # 'auto' collapses a graph this size


def test_the_largest_graph_renders():
    rt = _lenet()
    loss, rest = rt.lenet_adam()  # LeNet's loss, gradients and Adam updates
    dg = gc.render([loss] + rest, view="both", collapse=False)
    svg = dg.svg()
    assert len(re.findall(r'class="node"', svg)) > 300


# -- output ----------------------------------------------------------------------------------
def test_writing_files_by_extension_atomically(tmp_path):
    L, _ = network_111()
    out = tmp_path / "new" / "dir"
    for ext, magic in ((".svg", b"<?xml"), (".png", b"\x89PNG"), (".pdf", b"%PDF"), (".dot", b"digraph")):
        path = out / f"fig{ext}"
        dg = gc.render(L, view="backward", path=path)
        data = path.read_bytes()
        assert data.startswith(magic)
        if ext == ".dot":
            assert data.decode() == dg.source
    assert sorted(p.name for p in out.iterdir()) == ["fig.dot", "fig.pdf", "fig.png", "fig.svg"]  # no temporaries left
    with pytest.raises(RenderError, match=".svg"):
        gc.render(L, path=tmp_path / "fig.jpeg")


def test_missing_dot_is_a_clear_graphc_error(tmp_path, monkeypatch):
    L, _ = network_111()
    monkeypatch.setenv("PATH", str(tmp_path))  # no `dot` anywhere on it
    dg = gc.render(L, view="backward")
    assert "σ(z1)(1 − σ(z1))" in dg.source  # the DOT source is still produced
    with pytest.raises(RenderError, match="install the `graphviz` system package|Install the `graphviz` system package") as err:
        dg.pipe(format="svg")
    assert isinstance(err.value, GraphcError)
    with pytest.raises(RenderError, match="graphviz"):
        gc.render(L, view="backward", path=tmp_path / "fig.svg")
    assert not (tmp_path / "fig.svg").exists()
    gc.render(L, view="backward", path=tmp_path / "fig.dot")  # writing DOT needs no `dot`
    assert "∂L/∂w1" in (tmp_path / "fig.dot").read_text()


# -- command line ----------------------------------------------------------------------------
def test_cli_render_end_to_end(tmp_path):
    from graphc.cli import main

    script = tmp_path / "net.py"
    script.write_text(textwrap.dedent("""
        import numpy as np
        import graphc as gc

        def build():
            x = gc.input("x", ())
            w = gc.param("w", np.float32(0.5))
            return gc.sigmoid(gc.mul(w, x, name="z"), name="p")
    """))
    out = tmp_path / "net.svg"
    assert main(["render", str(script), "--view", "backward", "-o", str(out)]) == 0
    _, _, texts = parse(out.read_text())
    assert "∂p/∂z = ∂p/∂p · σ(z)(1 − σ(z))" in texts and "∂p/∂w = ∂p/∂z · x" in texts


def test_cli_render_reports_the_scripts_own_traceback(tmp_path, capsys):
    from graphc.cli import main

    script = tmp_path / "broken.py"
    script.write_text(textwrap.dedent("""
        import graphc as gc

        def helper():
            raise ValueError("my layer is wrong")

        def build():
            return helper()
    """))
    assert main(["render", str(script), "-o", str(tmp_path / "x.svg")]) == 1
    err = capsys.readouterr().err
    assert "ValueError: my layer is wrong" in err and "in helper" in err and str(script) in err
    assert "graphc/cli.py" not in err and not (tmp_path / "x.svg").exists()


# -- what users see first ----------------------------------------------------------------------
def _cnn_loss():
    from graphc import nn

    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, seed=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(4 * 4 * 4, 10, seed=2), name="cnn_for_render")
    x, y = gc.input("x", (None, 1, 8, 8)), gc.input("y", (None,), gc.int64)
    return model, gc.losses.cross_entropy(model(x), y)


def test_a_large_model_collapses_to_one_box_per_layer_never_to_the_whole_model():
    model, loss = _cnn_loss()
    dot = gc.render(loss, view="both", collapse=True).source
    boxes = re.findall(r'label="(∇ )?([\w]+)\\n(\d+) nodes?"', dot)
    names = {name for _, name, _ in boxes}
    assert {"conv2d", "batchnorm2d", "maxpool2d", "linear"} <= {n.rstrip("_0123456789") for n in names}, names
    assert "cnn_for_render" not in names  # the model is the cluster the layers sit in, not one box
    assert "cnn_for_render" in dot


def test_one_batch_notation_and_forward_nodes_carry_the_names_backward_formulas_cite():
    x = gc.input("x", (None, 3))
    w = gc.param("w", np.ones((3, 2), np.float32))
    loss = gc.mean(gc.sum(gc.square(x @ w), axis=1))
    nodes, edges, texts = parse(gc.render(loss, view="both").svg())
    joined = " ".join(texts)
    assert not re.search(r"\bNone\b|/ n\b|\(n,", joined)  # the batch is N everywhere
    assert "[N,2]" in texts and any("/ N" in t for t in texts)
    cited = set(re.findall(r"∂L/∂\(?([a-z_]+_\d+)", joined))
    forward_names = {line for lines in nodes.values() for line in lines}
    assert cited and cited <= forward_names, (cited, forward_names)


def test_tensors_graphs_and_compiled_functions_display_in_notebooks():
    x = gc.input("x", (None, 3))
    w = gc.param("w", np.ones((3, 2), np.float32))
    loss = gc.sum(gc.relu(x @ w))
    f = gc.compile(loss)
    for target in (loss, gc.graph(loss), f):
        bundle = target._repr_mimebundle_()
        assert bundle["text/plain"] == repr(target)
        assert bundle["image/svg+xml"].lstrip().startswith(("<?xml", "<svg"))
    f(x=np.ones((2, 3), np.float32))
    assert "gemm" in f._repr_mimebundle_()["image/svg+xml"].lower()  # after a call: the compiled kernels


def test_the_memory_view_draws_the_planned_arena(tmp_path):
    x = gc.input("x", (None, 3))
    w = gc.param("w", np.ones((3, 4), np.float32))
    loss = gc.sum(gc.tanh(x @ w) ** 2)
    f = gc.compile(loss, updates=dict(gc.optim.SGD([w], lr=0.1).updates(loss)))
    f(x=np.ones((5, 3), np.float32))
    fig = gc.render(f, view="memory", path=str(tmp_path / "memory.svg"))
    text = (tmp_path / "memory.svg").read_text()
    assert "arena" in fig.axes[0].get_title() and "lower bound" in fig.axes[0].get_title()
    assert len(fig.axes[0].patches) >= len([b for b in f.program.temporaries if b.nbytes])
    assert "<svg" in text
    with pytest.raises(RenderError, match=r"\.svg, \.png or \.pdf"):
        gc.render(f, view="memory", path=str(tmp_path / "memory.dot"))
