"""What a rendering needs to know about a graph: forward vs backward nodes, the seed, each cotangent's meaning.

The backward pass leaves two facts on nodes (see graphc.autodiff): `meta["grad_of"] = (f, x)`
on each cotangent contribution that f's VJP sent to its input x, and `meta["role"] = "seed"` on
dL/dL. From these, the forward part is every node that the differentiated forward nodes (and
the forward targets) depend on; the backward part is the rest. Which node holds the *total*
cotangent of each forward value (after fan-out sums, pass-throughs of `add`) is asked of
graphc.autodiff itself: hash-consing makes replaying `vjp` return the very same nodes.
"""
from __future__ import annotations

from .. import dtypes
from ..autodiff import vjp
from ..ir import Node, toposort


def _ancestors(nodes) -> set:
    return set(toposort(list(nodes))) if nodes else set()


class Analysis:
    """The nodes to draw, split into forward and backward, with the cotangent each backward node holds.

    `loss`: the differentiated output when the caller knows it (else it is inferred from the
    seed and the `grad_of` marks, and checked by replaying the VJPs). Knowing it matters because
    hash-consing shares VJP nodes between losses built on the same values, and a shared node
    keeps the `grad_of` of the first loss differentiated."""

    def __init__(self, targets: list[Node], loss: Node | None = None):
        self.targets = list(targets)
        # a constant's mark is not trusted: constants are shared by every graph (hash-consing), so the
        # mark may come from another graph's backward pass (a constant cotangent passed through)
        marked = [n for n in toposort(self.targets) if "grad_of" in n.meta and n.op.name not in ("const", "input", "param")]
        self._partition(marked, None)
        self.seed = next((n for n in self.nodes if n.meta.get("role") == "seed"
                          and (n in self.backward_set or any(c in self.backward_set for c in self.consumers[n]))), None)
        self.region, self.totals = None, {}
        if loss is not None:
            candidates = [loss]
        else:  # nothing to infer for a forward-only drawing
            candidates = self._loss_candidates(marked) if self.backward else []
        for c in candidates:
            self._partition(marked, _ancestors([c]), extra=[c])
            totals = self._totals(c, marked)
            reached = set(totals.values())
            downstream = [t for t in self.targets if t in self.backward_set]  # gradients, or values computed from them
            if loss is not None or (reached and all(reached & _ancestors([t]) for t in downstream)):
                self.loss, self.region, self.totals = c, _ancestors([c]), totals
                break
        else:
            self.loss = candidates[0] if candidates else None
            self._partition(marked, None)
        self.total_of: dict[Node, list[Node]] = {}
        for x, g in self.totals.items():
            self.total_of.setdefault(g, []).append(x)
        self._acc: dict = {}
        self.scope = self._backward_scopes()

    def _partition(self, marked, region, extra=()):
        """Forward = the differentiated region (or what the grad_of marks reference) and what forward
        targets need; backward = everything else drawn."""
        referenced = [x for n in marked for x in n.meta["grad_of"] if region is None or n.meta["grad_of"][0] in region]
        self.nodes: list[Node] = toposort(self.targets + referenced + list(extra))
        core = set(region) if region is not None else _ancestors(referenced)
        pending: set = set()
        for n in self.nodes:  # nodes computed from a cotangent (outside the differentiated forward values)
            if n not in core and ("grad_of" in n.meta or any(i in pending for i in n.inputs)):
                pending.add(n)
        forward_targets = [t for t in self.targets if t not in pending]
        self.forward_set = core | _ancestors(forward_targets)
        self.forward = [n for n in self.nodes if n in self.forward_set]
        self.backward = [n for n in self.nodes if n not in self.forward_set]
        self.backward_set = set(self.backward)
        self.consumers: dict[Node, list[Node]] = {n: [] for n in self.nodes}
        for n in self.nodes:
            for i in n.inputs:
                self.consumers[i].append(n)

    @property
    def has_backward(self) -> bool:
        return bool(self.backward)

    def _loss_candidates(self, marked) -> list:
        """Possible differentiated outputs, most likely first: a scalar forward target, the op whose VJP
        took the seed, then the differentiated ops that no other one depends on (latest first)."""
        out = [t for t in self.targets if t in self.forward_set and dtypes.is_float(t.dtype)
               and all(isinstance(d, int) and d == 1 for d in t.shape)]
        if self.seed is not None:
            out += [c.meta["grad_of"][0] for c in self.consumers.get(self.seed, []) if "grad_of" in c.meta]
            if "grad_of" in self.seed.meta:  # the seed passed straight through (L = a + b)
                out.append(self.seed.meta["grad_of"][0])
        outs = {n.meta["grad_of"][0] for n in marked}
        inner = _ancestors([i for o in outs for i in o.inputs])
        out += sorted((o for o in outs if o not in inner), key=lambda n: -n.id)
        return list(dict.fromkeys(out))

    def _totals(self, loss, marked) -> dict:
        """{forward node: the node holding its total cotangent}, by replaying graphc.autodiff.vjp."""
        if self.seed is None or not dtypes.is_float(loss.dtype) or self.seed.shape != loss.shape:
            return {}
        region = _ancestors([loss])
        wanted = {x for n in marked for x in n.meta["grad_of"]} | {n for n in region if n.op.name in ("param", "input")}
        wrt = [n for n in self.forward if n in wanted and n in region and dtypes.is_float(n.dtype) and n.op.name != "const"]
        if not wrt:
            return {}
        try:  # the same VJP calls on the same nodes: hash-consing hands back the nodes already drawn
            gs = vjp(loss, wrt, self.seed)
        except Exception:
            return {}
        drawn = set(self.nodes)
        return {x: g for x, g in zip(wrt, gs) if g in drawn}

    def grad_of(self, node):
        """(f, x) when `node` is the cotangent contribution f's VJP sent to its input x, else None.

        The node's `grad_of` mark is used when it names an op of this loss; a node shared with
        another loss's backward pass (hash-consing) is identified from the replayed totals."""
        mark = node.meta.get("grad_of")
        if mark is not None and (self.region is None or mark[0] in self.region):
            return mark
        if self.region is not None:
            for x in self.total_of.get(node, []):
                users = [c for c in self.consumers.get(x, []) if c in self.region]
                if len(users) == 1:
                    return (users[0], x)
        return None

    def is_seed(self, node) -> bool:
        return node is self.seed

    def accumulates(self, node):
        """The forward value x when `node` adds up contributions to x's cotangent (fan-out), else None."""
        if node.op.name != "add" or node not in self.backward_set:
            return None
        if node not in self._acc:
            self._acc[node] = None
            xs = {self.cotangent_of(i) if i in self.backward_set or i is self.seed else None for i in node.inputs}
            if len(xs) == 1 and None not in xs:
                self._acc[node] = xs.pop()
            elif self.total_of.get(node) and "local_derivative" not in node.meta:
                # a total reached through pass-throughs (x − m feeds both exp and sub): the latest value is
                # where the fan-out happened, the earlier ones receive it unchanged
                self._acc[node] = max(self.total_of[node], key=lambda n: n.id)
        return self._acc[node]

    def cotangent_of(self, node):
        """The forward node whose cotangent `node` holds (a contribution or the total), or None."""
        if node is self.seed and self.loss is not None:
            return self.loss
        acc = self.accumulates(node)
        if acc is not None:
            return acc
        mark = self.grad_of(node)
        if mark is not None:
            return mark[1]
        xs = self.total_of.get(node)
        return xs[0] if xs else None

    def is_total(self, node) -> bool:
        """False for one of several contributions that are summed into a forward value's cotangent."""
        x = self.cotangent_of(node)
        return x is None or self.totals.get(x, node) is node

    def _backward_scopes(self) -> dict:
        """A scope for each backward node: that of the forward op whose VJP built it (for clusters)."""
        out: dict[Node, str] = {}
        for n in reversed(self.backward):
            mark = self.grad_of(n)
            if mark is not None:
                out[n] = mark[0].scope
            else:
                users = [out[c] for c in self.consumers[n] if c in out]
                out[n] = users[0] if users else None
        for n in self.backward:  # gradient outputs with nothing downstream: inherit from an input
            if out[n] is None:
                out[n] = next((out[i] for i in n.inputs if out.get(i) is not None), "")
        return out

    def reused(self) -> set:
        """Forward values read by backward nodes (the saved activations of the backward pass)."""
        return {i for n in self.backward for i in n.inputs if i in self.forward_set and i is not self.seed}
