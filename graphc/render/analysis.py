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
from ..ir import Node, toposort


def _ancestors(nodes) -> set:
    return set(toposort(list(nodes))) if nodes else set()


class Analysis:
    """The nodes to draw, split into forward and backward, with the cotangent each backward node holds."""

    def __init__(self, targets: list[Node]):
        self.targets = list(targets)
        marked = [n for n in toposort(self.targets) if "grad_of" in n.meta]
        referenced = [x for n in marked for x in n.meta["grad_of"]]
        self.nodes: list[Node] = toposort(self.targets + referenced)
        core = _ancestors(referenced)
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
        self._acc: dict = {}
        self.seed = next((n for n in self.nodes if n.meta.get("role") == "seed"
                          and (n in self.backward_set or any(c in self.backward_set for c in self.consumers[n]))), None)
        self.loss = self._find_loss(marked)
        self.totals = self._totals(marked)  # forward node -> node holding its total cotangent
        self.total_of: dict[Node, list[Node]] = {}
        for x, g in self.totals.items():
            self.total_of.setdefault(g, []).append(x)
        self.scope = self._backward_scopes()

    @property
    def has_backward(self) -> bool:
        return bool(self.backward)

    def _find_loss(self, marked):
        """The differentiated output: the forward node whose VJP took the seed, else the last one differentiated."""
        if self.seed is not None:
            for c in self.consumers.get(self.seed, []):
                if "grad_of" in c.meta and c in self.backward_set:
                    return c.meta["grad_of"][0]
            for n in marked:  # the seed passed straight through (L = a + b): it is itself a contribution
                if n is self.seed:
                    return n.meta["grad_of"][0]
        outs = {n.meta["grad_of"][0] for n in marked}
        inner = _ancestors([i for o in outs for i in o.inputs])
        last = [o for o in outs if o not in inner]
        return max(last, key=lambda n: n.id) if last else None

    def _totals(self, marked) -> dict:
        if self.loss is None or self.seed is None or not dtypes.is_float(self.loss.dtype):
            return {}
        from ..autodiff import vjp
        from ..tensor import Tensor

        wanted = {x for n in marked for x in n.meta["grad_of"]}
        wanted |= {n for n in self.forward if n.op.name == "param"}
        wanted &= _ancestors([self.loss])
        wrt = [n for n in self.forward if n in wanted and dtypes.is_float(n.dtype) and n.op.name != "const"]
        if not wrt:
            return {}
        try:  # the same VJP calls on the same nodes: hash-consing hands back the nodes already drawn
            gs = vjp(Tensor.of(self.loss), [Tensor.of(n) for n in wrt], Tensor.of(self.seed))
        except Exception:
            return {}
        drawn = set(self.nodes)
        return {x: g.node for x, g in zip(wrt, gs) if g.node in drawn}

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
        return self._acc[node]

    def cotangent_of(self, node):
        """The forward node whose cotangent `node` holds (a contribution or the total), or None."""
        if node is self.seed and self.loss is not None:
            return self.loss
        acc = self.accumulates(node)
        if acc is not None:
            return acc
        if "grad_of" in node.meta:
            return node.meta["grad_of"][1]
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
            if "grad_of" in n.meta:
                out[n] = n.meta["grad_of"][0].scope
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
