"""Print a Program as a readable NumPy module: every access a strided view, every Loop a few array statements.

A Loop's parallel domain becomes whole-array expressions over views of the domain's shape,
its reduction axes an `np.<ufunc>.reduce(axis=...)`, colliding stores (the windows of a fold)
a short Python loop over the colliding axes, data-dependent stores `np.<ufunc>.at`. A Gemm is
`np.matmul(..., out=)`. The scalar body is printed through the spelling table (spelling.py).
"""
from __future__ import annotations

import itertools

import numpy as np

from graphc.scalar_ops import combine_identity
from graphc.program import Chain, Gather, Gemm, Loop, Program, View, injective as _injective

from .spelling import BodyPrinter, number

_REDUCE = {"add": "np.add", "mul": "np.multiply", "max": "np.maximum", "min": "np.minimum"}
SMALL_REDUCTION = 16  # reductions over at most this many points may be printed as elementwise combines,
UNROLL_MIN_RESULTS_PER_TAP = 16  # when each combine then covers at least this many results per tap
ONE_HOT_LIMIT = 1 << 22  # a scatter-add into an n-row table from m indices is a product when n·m is at most this


class Scratch:
    """Arrays in a kernel's domain shape that its body's intermediate values borrow (BodyPrinter), allocated once
    when the module is bound and shared by every kernel (one kernel runs at a time): a call allocates nothing."""

    def __init__(self, printer: "ModulePrinter"):
        self.printer = printer
        self.sizes: dict[tuple, int] = {}   # (dtype name, slot) -> the most elements any kernel needs there
        self.domain: tuple = ()
        self.in_use: set[tuple] = set()

    def start(self, domain) -> None:
        self.domain, self.in_use = tuple(domain), set()

    def take(self, dtype) -> str:
        dtype = np.dtype(dtype).name
        slot = next(i for i in itertools.count() if (dtype, i) not in self.in_use)
        self.in_use.add((dtype, slot))
        size = int(np.prod(self.domain))
        self.sizes[(dtype, slot)] = max(self.sizes.get((dtype, slot), 0), size)
        key = ("scratch", dtype, slot, self.domain)
        names = self.printer.names
        if key not in names:
            names[key] = f"_s_{dtype}_{slot}_v{len(names)}"
            self.printer.setup.append(f"    {names[key]} = _scratch_{dtype}_{slot}[:{size}].reshape({self.domain})")
        return names[key]

    def give(self, name: str, dtype) -> None:
        slot = int(name.split("_")[3])
        self.in_use.discard((np.dtype(dtype).name, slot))

    @property
    def nbytes(self) -> int:
        return sum(size * np.dtype(dtype).itemsize for (dtype, _), size in self.sizes.items())

    def declarations(self) -> list[str]:
        return [f"    _scratch_{dtype}_{slot} = np.empty({size}, np.{dtype})" for (dtype, slot), size in sorted(self.sizes.items())]


class ModulePrinter:
    """Names every buffer and view once (bound when the module is bound to its arrays), then prints the kernels."""

    def __init__(self, program: Program, debug: bool = False):
        self.program, self.debug = program, debug
        self.setup: list[str] = []
        self.per_call: list[str] = []
        self.names: dict[tuple, str] = {}
        self._tmp = itertools.count()
        self.scratch = Scratch(self)

    def fresh(self) -> str:
        return f"v{next(self._tmp)}"

    # -- accesses ------------------------------------------------------------------
    def view(self, v: View) -> str:
        """A bind-time name for a strided view. Temporaries that share arena bytes (an in-place kernel's
        input and output) share the view object: NumPy takes `out=` equal to an input without the
        overlap analysis it runs on two distinct arrays over the same memory."""
        b = v.buffer
        if b.role == "temp" and b.offset is not None:
            key = ("arena", b.offset, b.dtype.str, v.shape, v.strides, v.offset)
        else:
            key = ("view",) + v.key()
        if key not in self.names:
            b, item = v.buffer.name, v.buffer.dtype.itemsize
            if v.size == 0:  # nothing to read or write (NumPy refuses a strided view of a 0-byte buffer)
                expr = f"np.empty({v.shape}, np.{v.buffer.dtype.name})"
            elif v.is_whole:
                expr = f"{b}.reshape({v.shape})" if len(v.shape) != 1 or v.buffer.role == "input" else b
            else:  # the ndarray constructor over a contiguous base: a strided view, bounds checked by NumPy
                expr = (f"np.ndarray({v.shape}, np.{v.buffer.dtype.name}, {b}, {v.offset * item}, "
                        f"{tuple(s * item for s in v.strides)})")
            name = self.names[key] = f"{b}_v{len(self.names)}"
            # an input is the caller's array, passed to run(): its views are made at every call (cheaply)
            (self.per_call if v.buffer.role == "input" else self.setup).append(f"    {name} = {expr}")
        return self.names[key]

    def grid(self, domain, k: int) -> str:
        """A bind-time int64 array of axis k's indices, shaped to broadcast over `domain`."""
        key = ("grid", tuple(domain), k)
        if key not in self.names:
            shape = tuple(d if i == k else 1 for i, d in enumerate(domain))
            name = self.names[key] = f"_i{k}_{len(self.names)}"
            self.setup.append(f"    {name} = np.arange({domain[k]}, dtype=np.int64).reshape({shape})")
        return self.names[key]

    def chain(self, c: Chain) -> str:
        """A run-time expression (a reshape may copy, so it is evaluated at every call)."""
        expr = self.view(c.base)
        for kind, arg in c.steps:
            if kind == "reshape":
                expr = f"{expr}.reshape({arg})"
            elif kind == "transpose":
                expr = f"{expr}.transpose({arg})"
            elif kind == "broadcast":
                expr = f"np.broadcast_to({expr}, {arg})"
            else:
                expr = f"{expr}[{', '.join(_slice_code(a, c, n) for a, c, n in arg)}]"
        return expr

    def gather_index(self, g: Gather, domain, loads: dict) -> str:
        """The advanced-indexing tuple that reads (or writes) a Gather over `domain`."""
        n = g.base.shape[g.axis]
        parts = [self.grid(domain, k) for k in range(g.axis)]
        parts.append(f"np.mod({loads[g.index]}, {n})")
        parts += [self.grid(domain, k) for k in range(g.axis + g.rank, len(domain))]
        return "(" + ", ".join(parts) + ",)"

    def raw_index(self, g: Gather, by_name: dict) -> str | None:
        """The index array itself (shape = its own axes) when the index load only broadcasts it over the
        domain, so that np.take and a one-hot product can use it; None otherwise."""
        ld = by_name[g.index]
        v = ld.access
        if not isinstance(v, View) or ld.valid is not None:
            return None
        inside = range(g.axis, g.axis + g.rank)
        if any(s and d > 1 and a not in inside for a, (d, s) in enumerate(zip(v.shape, v.strides))):
            return None
        return self.view(View(v.buffer, tuple(v.shape[a] for a in inside), tuple(v.strides[a] for a in inside), v.offset))

    def load(self, ld, domain, loads: dict, lines: list, by_name: dict | None = None) -> str:
        a = ld.access
        if isinstance(a, Chain):
            expr = self.chain(a)
        elif isinstance(a, Gather):
            raw = self.raw_index(a, by_name or {})
            if raw is not None:  # the index array as it is: np.take (the range check ran first)
                expr = f"np.take({self.view(a.base)}, {raw}, axis={a.axis})"
            else:
                expr = f"{self.view(a.base)}[{self.gather_index(a, domain, loads)}]"
        elif ld.valid is not None:
            inner = self.view(a.slice([lo for lo, _ in ld.valid], [hi for _, hi in ld.valid], [1] * len(domain)))
            name = self.fresh()
            lines.append(f"{name} = _boxed({inner}, {tuple(domain)}, {tuple(ld.valid)}, {number(ld.fill, a.buffer.dtype)})")
            return name
        else:
            return self.view(a)
        name = self.fresh()
        lines.append(f"{name} = {expr}")
        return name

    # -- kernels ---------------------------------------------------------------------
    def loop(self, k: Loop) -> list[str]:
        lines: list[str] = []
        pieces = _copy_pieces(k)
        if pieces is not None:
            return self.pieces(k, pieces)
        pulled = _pulled_back_copy(k)
        if pulled is not None:  # one copy, written through a reshaped view of the destination
            return [f"{self.view(pulled[0])}[...] = {self.view(pulled[1])}"]
        loads: dict[str, str] = {}
        by_name = {ld.name: ld for ld in k.loads}
        raw = {g.index: self.raw_index(g, by_name) for g in [ld.access for ld in k.loads] + [k.store] if isinstance(g, Gather)}
        for ld in sorted(k.loads, key=lambda ld: isinstance(ld.access, Gather)):  # index loads before gathers
            loads[ld.name] = self.load(ld, k.domain, loads, lines, by_name)
            for name, lo, hi, what in k.checks:
                if name == ld.name:
                    lines.append(f"_check_range({raw.get(name) or loads[name]}, {lo}, {hi}, {(k.label + ': ' + what)!r})")
        self.scratch.start(k.domain)
        aliases = [ld.name for ld in k.loads if _share_memory(ld.buffer, k.store.buffer)]
        body = BodyPrinter(k.body, loads, lambda i: self.grid(k.domain, i), self.scratch, aliases)
        store = k.store
        buf = store.buffer.name
        if isinstance(store, Gather):
            pre, value = body.value()
            one_hot = self.one_hot_scatter(k, raw.get(store.index), value)
            if one_hot is not None:  # the product writes every element: no init fill
                return lines + pre + one_hot
        # a reduction whose store reaches every element overwrites it (ufunc.reduce with out=): no init fill
        overwrites = (isinstance(store, View) and k.combine is not None and _covers(store)
                      and all(store.strides[a] == 0 for a in k.reduce))
        if k.init is not None and not overwrites:
            lines.append(f"{buf}.fill({number(k.init, store.buffer.dtype)})")
        if isinstance(store, Gather):
            ufunc = _REDUCE[k.combine or "add"] if k.combine else None
            index = self.gather_index(store, k.domain, loads)
            value = f"np.broadcast_to({value}, {tuple(k.domain)})"
            target = self.view(store.base)
            if ufunc:
                return lines + pre + [f"{ufunc}.at({target}, {index}, {value})"]
            return lines + pre + [f"{target}[{index}] = {value}"]
        if k.combine is None:
            return lines + body.assign(self.view(store))
        reduced = tuple(a for a in k.reduce if store.strides[a] == 0 or k.domain[a] == 1)
        colliding = tuple(a for a in k.reduce if a not in reduced)
        pre, value = body.value()
        if colliding:  # e.g. the kernel taps of a fold: one accumulation per combination of their indices
            # loop over the fewest index combinations that leave a collision-free (injective) store:
            # a fold loops over its kernel taps, each tap one strided vector add over every window
            options = [c for r in range(len(colliding) + 1) for c in itertools.combinations(colliding, r)
                       if _injective([k.domain[a] for a in range(len(k.domain)) if a not in c],
                                     [store.strides[a] for a in range(len(k.domain)) if a not in c])]
            if options:
                colliding = min(options, key=lambda c: (int(np.prod([k.domain[a] for a in c])), c))
            rest = [a for a in range(len(k.domain)) if a not in colliding]
            if not _injective([k.domain[a] for a in rest], [store.strides[a] for a in rest]) or reduced:
                ufunc = _REDUCE[k.combine]
                flat = self._flat_index_code(store, k.domain)
                return lines + pre + [f"{ufunc}.at({buf}, {flat}, np.broadcast_to({value}, {tuple(k.domain)}))"]
            idx = ", ".join(f"_c{a}" if a in colliding else ":" for a in range(len(k.domain)))
            op = {"add": "+=", "mul": "*="}.get(k.combine)
            value_name = self.fresh()
            out = lines + pre + [f"{value_name} = np.broadcast_to({value}, {tuple(k.domain)})"]
            loops = [f"for _c{a} in range({k.domain[a]}):" for a in colliding]
            indent = ""
            for line in loops:
                out.append(indent + line)
                indent += "    "
            target = f"{self.view(store)}[{idx}]"
            if op:
                out.append(f"{indent}{target} {op} {value_name}[{idx}]")
            else:
                out.append(f"{indent}{_REDUCE[k.combine]}({target}, {value_name}[{idx}], out={target})")
            return out
        kept = self.view(View(store.buffer, tuple(1 if a in reduced else d for a, d in enumerate(k.domain)), store.strides,
                              store.offset))
        taps = int(np.prod([k.domain[a] for a in reduced]))
        results = int(np.prod([d for a, d in enumerate(k.domain) if a not in reduced]))
        # a few window taps over many results: one elementwise combine per tap beats a ufunc.reduce that
        # iterates a tiny inner axis per result; few results (a softmax row sum): one reduce call is cheaper
        if 1 < taps <= SMALL_REDUCTION and results >= UNROLL_MIN_RESULTS_PER_TAP * taps:
            if not value.isidentifier():
                name = self.fresh()
                pre = pre + [f"{name} = {value}"]
                value = name
            terms = []
            for tap in itertools.product(*(range(k.domain[a]) for a in reduced)):
                at = dict(zip(reduced, tap))
                terms.append(f"{value}[{', '.join(f'{at[a]}:{at[a] + 1}' if a in at else ':' for a in range(len(k.domain)))}]")
            ufunc = _REDUCE[k.combine]
            out = [f"{ufunc}({terms[0]}, {terms[1]}, out={kept})"] + [f"{ufunc}({kept}, {t}, out={kept})" for t in terms[2:]]
            return lines + pre + out
        # over an empty axis max and min have no identity in NumPy: the combine's own (graphc.ops.reduce.identity)
        empty = ""
        if any(k.domain[a] == 0 for a in reduced) and k.combine in ("max", "min"):
            start = combine_identity(k.combine, k.store.buffer.dtype)
            empty = f", initial={start!r}" if not isinstance(start, float) else f", initial=float('{start}')"
        return lines + pre + [f"{_REDUCE[k.combine]}.reduce({value}, axis={reduced}, keepdims=True, out={kept}{empty})"]

    def one_hot_scatter(self, k: Loop, raw: str | None, value: str) -> list[str] | None:
        """A scatter-add of rows into a small float table as one product: onehot(index)ᵀ @ rows. np.add.at is
        an order of magnitude slower; the one-hot matrix stays small by the size guard."""
        g = k.store
        n, m = g.base.shape[g.axis], int(np.prod(k.domain[g.axis:g.axis + g.rank]))
        if (raw is None or k.combine != "add" or g.axis != 0 or k.init != 0 or g.base.buffer.dtype.kind != "f"
                or not g.base.is_whole or n * m > ONE_HOT_LIMIT):
            return None
        hot, rows, table = self.fresh(), self.fresh(), self.fresh()
        dtype = g.base.buffer.dtype.name
        # an inf or NaN row would spread through the product (inf·0 is NaN): those calls scatter with np.add.at
        return [f"{rows} = np.broadcast_to({value}, {tuple(k.domain)}).reshape({m}, -1)",
                f"{table} = {self.view(g.base)}.reshape({n}, -1)",
                f"if np.isfinite({rows}).all():",
                f"    {hot} = (np.mod({raw}, {n}).reshape(-1, 1) == np.arange({n})).astype(np.{dtype})",
                f"    np.matmul({hot}.T, {rows}, out={table})",
                "else:",
                f"    {table}[...] = 0",
                f"    np.add.at({table}, np.mod({raw}, {n}).reshape(-1), {rows})"]

    def _flat_index_code(self, store: View, domain) -> str:
        terms = [f"{store.offset}"] + [f"{self.grid(domain, a)} * {s}" for a, s in enumerate(store.strides) if s and domain[a] > 1]
        return f"np.broadcast_to({' + '.join(terms)}, {tuple(domain)})"

    def pieces(self, k: Loop, pieces) -> list[str]:
        """A copy whose parts come from loads valid on boxes: fill what no box covers, then copy each box."""
        store = k.store
        lines = []
        covered = sum(np.prod([hi - lo for lo, hi in ld.valid]) if ld.valid else np.prod(k.domain) for ld in pieces)
        full = int(np.prod(k.domain))
        target = self.view(store)
        if covered < full:
            fill = pieces[0].fill if pieces[0].valid else 0
            lines.append(f"{target}.fill({number(fill, store.buffer.dtype)})")
        if k.init is not None and store.size < store.buffer.size:
            lines.insert(0, f"{store.buffer.name}.fill({number(k.init, store.buffer.dtype)})")
        for ld in pieces:
            box = ld.valid or tuple((0, d) for d in k.domain)
            lo, hi = [a for a, _ in box], [b for _, b in box]
            src = ld.access.slice(lo, hi, [1] * len(box)) if isinstance(ld.access, View) else ld.access
            dst = store.slice(lo, hi, [1] * len(box))
            src_code = self.view(src) if isinstance(src, View) else self.chain(src)
            lines.append(f"{self.view(dst)}[...] = {src_code}")
        return lines

    def gemm(self, k: Gemm) -> list[str]:
        a, b, c = (self.view(k.operand_view(w)) for w in "abc")
        lines = [f"np.matmul({a}, {b}, out={c})"]
        if k.alpha != 1.0 or k.beta != 0.0:
            raise NotImplementedError("the NumPy printer prints gemms with alpha 1 and beta 0")
        if k.epilogue is not None:  # applied in place over the product, right after it
            domain = tuple(k.batch) + (k.m, k.n)
            loads = {"acc": c}
            for ld in k.epilogue_loads:
                loads[ld.name] = self.load(ld, domain, loads, lines)
            self.scratch.start(domain)
            aliases = ["acc"] + [ld.name for ld in k.epilogue_loads if _share_memory(ld.buffer, k.c.buffer)]
            lines += BodyPrinter(k.epilogue, loads, lambda i: self.grid(domain, i), self.scratch, aliases).assign(c)
        return lines

    def source(self, graph_hash: str = "") -> str:
        prog = self.program
        body = []
        for k in prog.kernels:
            lines = self.gemm(k) if isinstance(k, Gemm) else self.loop(k)
            lines[-1] += f"  # {k.label}" if k.label else ""
            body += lines
            if self.debug and k.writes.dtype.kind == "f" and not k.nonfinite_by_design:
                body.append(f"_check_finite({k.writes.name}, {k.label!r})")
        head = [
            f'"""graphc NumPy module for graph {graph_hash[:12]} with '
            f'{", ".join(f"{k}={v}" for k, v in prog.bindings.items()) or "static shapes"}.',
            "",
            "bind(arena, externals) names every buffer and view once; the returned run(inputs...) executes the kernels",
            "in order over the caller's input arrays (C-contiguous, of the declared dtypes and shapes).",
            '"""',
            "import numpy as np",
            "from graphc.backends.numpy.support import _boxed, _check_finite, _check_range, _erf, _errors, _to_int",
            "",
            "",
            "def bind(arena, externals):",
        ]
        binds = [f"    {b.name} = externals[{i}]  # {b.role} {b.dtype}[{b.size}]" for i, b in enumerate(prog.externals)
                 if b.role != "input"]
        binds += [f"    {b.name} = arena[{b.offset}:{b.offset + b.nbytes}].view(np.{b.dtype.name})  # temp {b.dtype}[{b.size}]"
                  for b in prog.temporaries]
        inputs = ", ".join(b.name for b in prog.inputs.values())
        run = (["", f"    def run({inputs}):", "        _token = _errors.ignore()  # inf/nan are data here; debug mode checks them",
                "        try:"]
               + [("        " + line) for line in self.per_call]
               + [("            " + line) for line in body or ["pass"]]
               + ["        finally:", "            _errors.restore(_token)", "", "    return run", ""])
        return "\n".join(head + binds + self.scratch.declarations() + self.setup + run)


def _share_memory(a, b) -> bool:
    """May buffers a and b share bytes (the same buffer, or arena ranges that overlap)?"""
    if a is b:
        return True
    if a.role != "temp" or b.role != "temp" or a.offset is None or b.offset is None:
        return False
    return a.offset < b.offset + b.nbytes and b.offset < a.offset + a.nbytes


def _slice_code(start: int, step: int, n: int) -> str:
    stop = start + step * n
    return f"{start}:{'' if stop < 0 else stop}:{step}"


def _covers(store: View) -> bool:
    """True when the store reaches every element of its buffer."""
    live = [(d, s) for d, s in zip(store.shape, store.strides) if s and d > 1]
    size = int(np.prod([d for d, _ in live] or [1]))
    return store.offset == 0 and size == store.buffer.size and _injective([d for d, _ in live], [s for _, s in live])


def _pulled_back_copy(k: Loop):
    """(destination view, source view) when the Loop copies a Chain into a View whose inverse steps are all
    strided views of the destination, so NumPy copies once, straight into place; None otherwise."""
    if k.combine is not None or k.init is not None or k.checks or len(k.loads) != 1 or not k.body.is_arg():
        return None
    ld, dst = k.loads[0], k.store
    if not isinstance(ld.access, Chain) or ld.valid is not None or not isinstance(dst, View):
        return None
    chain = ld.access
    for (kind, arg), before in zip(reversed(chain.steps), reversed(chain._shapes())):
        if kind == "reshape":
            dst = dst._affine_reshape(before)
        elif kind == "transpose":
            dst = dst.transpose(tuple(np.argsort(arg)))
        else:
            return None
        if dst is None:
            return None
    return dst, chain.base


def _copy_pieces(k: Loop):
    """The loads of a Loop that only copies: one load (maybe boxed), or a choice of boxed loads by position
    along one axis (a concatenation); None for any other Loop."""
    if k.combine is not None or not isinstance(k.store, View) or k.checks:
        return None
    if any(not isinstance(ld.access, (View, Chain)) for ld in k.loads):
        return None
    ops, out = k.body.ops, k.body.out
    by_name = {ld.name: ld for ld in k.loads}
    if ops[out].op == "arg":
        ld = by_name[ops[out].value]
        return [ld] if ld.valid is not None and isinstance(ld.access, View) else None
    if not all(ld.valid is not None and isinstance(ld.access, View) for ld in k.loads):
        return None
    chosen, i = [], out
    while ops[i].op == "where":
        cond, then, other = ops[i].args
        c = ops[cond]
        if c.op != "lt" or ops[c.args[0]].op != "axis" or ops[c.args[1]].op != "const" or ops[then].op != "arg":
            return None
        chosen.append(by_name[ops[then].value])
        i = other
    if ops[i].op != "arg" or not chosen:
        return None
    return chosen + [by_name[ops[i].value]]
