"""The Module base class (parameters, state, naming, train/eval mode, state updates, summary), Sequential and Residual.

A Module creates its parameters when it is constructed (so `parameters()` works before any graph
exists) and builds a subgraph each time it is called, under `gc.scope(name)`. Parameter names are
hierarchical paths, `lenet/c1/weight`: a module adopted by a parent (assigned as an attribute, or
given to Sequential/Residual) is renamed under the parent's path.

Mode is explicit: `model.train()` / `model.eval()` switch every submodule, and calling the model
again builds the other graph (both share the parameters, so both can be compiled and used).
State that a training step changes (BatchNorm running statistics, the dropout step counter) is
not updated by the forward graph itself: each training-mode call records `{state: new value}`,
and `model.state_updates()` returns those of the most recent training-mode call, to be merged
into `gc.compile(..., updates=opt.updates(loss) | model.state_updates())`.
"""
from __future__ import annotations

import itertools
from collections import Counter

import numpy as np

from .. import dsl, shapes
from ..dsl import scope
from ..tensor import Param, Tensor
from . import init as initializers
from ..errors import ArgumentError, GraphError
from ..ops.arguments import check_init
from ..ops.registry import current_scope

# every name scope a module has built its nodes in: drawings collapse a large graph to these
# (one box per layer), not to the graph's outermost scope
MODULE_SCOPES: set[str] = set()

_call_stack: list["Module"] = []   # the modules being called, outermost (the root of this call) first
_recorder: list | None = None       # summary(): [depth, module, output] per call while recording
_default_names: Counter = Counter()


def _unique_default(cls_name: str) -> str:
    base = cls_name.lower()
    k = _default_names[base]
    _default_names[base] += 1
    return base if k == 0 else f"{base}_{k}"


class Module:
    """Base class of layers. Subclasses create parameters in `__init__` with `self.param(...)` and
    define `forward(*args)`; `__call__` builds it under the module's name scope."""

    def __init_subclass__(cls, **kwargs):
        """graphc's own layers check their annotated arguments (graphc.ops.arguments); a user's
        subclass keeps its own errors and traceback."""
        super().__init_subclass__(**kwargs)
        check_init(cls)

    def __init__(self, name: str | None = None, *, seed=None, rng=None):
        object.__setattr__(self, "_children", {})
        self._params: dict[str, Param] = {}
        self._explicit_name = name is not None
        if name is not None and (not name or "/" in name):
            raise ArgumentError(f"module name {name!r} must be non-empty and contain no '/'")
        self.name = name or _unique_default(type(self).__name__)
        self.parent: Module | None = None
        self.training = True
        self._pending: dict = {}
        self._counter: Param | None = None
        self.rng = initializers.as_rng(seed if seed is not None else rng)

    # -- structure -------------------------------------------------------------------------
    def __setattr__(self, key, value):
        if isinstance(value, Module) and not key.startswith("_") and key != "parent":
            if "_children" not in self.__dict__:
                raise GraphError(f"{type(self).__name__}: call super().__init__() before assigning submodules")
            self._adopt(value, key)
        object.__setattr__(self, key, value)

    def _adopt(self, child: "Module", local: str | None = None) -> "Module":
        """Make `child` a submodule: name it (its own name if given, else `local`, unique among
        siblings) and move its parameters under this module's path."""
        if child is self or child.parent is self and child in self._children.values():
            return child
        if child.parent is not None:  # already owned elsewhere: shared weights keep their first name
            self._children[f"{child.name}@{id(child)}"] = child
            return child
        name = child.name if child._explicit_name else (local or type(child).__name__.lower())
        base, k = name, itertools.count(1)
        while name in self._children:
            name = f"{base}_{next(k)}"
        child.name, child.parent = name, self
        self._children[name] = child
        child._rename()
        return child

    @property
    def path(self) -> str:
        return f"{self.parent.path}/{self.name}" if self.parent is not None else self.name

    def _rename(self):
        for local, p in self._params.items():
            p.variable.name = f"{self.path}/{local}"
            p.node.scope = self.path
        if self._counter is not None:
            self._counter.variable.name = f"{self.path}/step"
        for c in self.children():
            if c.parent is self:
                c._rename()

    def children(self) -> list["Module"]:
        return list(self._children.values())

    def modules(self) -> list["Module"]:
        """This module and every submodule, depth first, each once."""
        out, seen = [], set()

        def walk(m):
            if id(m) in seen:
                return
            seen.add(id(m))
            out.append(m)
            for c in m.children():
                walk(c)

        walk(self)
        return out

    def param(self, local: str, shape=None, init="zeros", *, value=None, trainable=True, role="param",
              dtype=np.float32) -> Param:
        """Create a parameter (or, with trainable=False and role='state', a state tensor) named `path/local`,
        initialised from `value` or by `init(shape, self.rng)`."""
        if value is None:
            shape = shapes.as_shape(shape)
            if not shapes.is_static(shape):
                raise ArgumentError(f"{self.path}/{local}: a parameter's shape must be static, got {shapes.fmt_shape(shape)}")
            shapes.check_fits(8 * shapes.prod(shape), f"parameter {self.path}/{local} of shape {shapes.fmt_shape(shape)}")
            value = initializers.get(init)(shape, self.rng)
        p = dsl.param(local, np.asarray(value, dtype=dtype), dtype=dtype, trainable=trainable, role=role)
        p.variable.name, p.node.scope = f"{self.path}/{local}", self.path
        self._params[local] = p
        return p

    def state_param(self, local: str, value, dtype=np.float32) -> Param:
        """A non-trainable state tensor (running statistics, counters) updated through state_updates()."""
        return self.param(local, value=value, trainable=False, role="state", dtype=dtype)

    # -- parameters and state ----------------------------------------------------------------
    def _all(self):
        seen = set()
        for m in self.modules():
            for p in list(m._params.values()) + ([m._counter] if m._counter is not None else []):
                if id(p) not in seen:
                    seen.add(id(p))
                    yield p

    def parameters(self) -> list[Param]:
        """The trainable parameters (frozen ones excluded), in creation order of the module tree."""
        return [p for p in self._all() if p.variable.role == "param" and p.variable.trainable]

    def all_parameters(self) -> list[Param]:
        """Every weight, trainable or frozen (not the state)."""
        return [p for p in self._all() if p.variable.role == "param"]

    def named_parameters(self) -> list[tuple[str, Param]]:
        return [(p.variable.name, p) for p in self.parameters()]

    def state(self) -> list[Param]:
        """The non-trainable state tensors (BatchNorm running statistics, the dropout step counter)."""
        return [p for p in self._all() if p.variable.role == "state"]

    def named_state(self) -> list[tuple[str, Param]]:
        return [(p.variable.name, p) for p in self.state()]

    def num_parameters(self, trainable_only: bool = True) -> int:
        ps = self.parameters() if trainable_only else self.all_parameters()
        return int(sum(p.value.size for p in ps))

    def freeze(self) -> "Module":
        """Exclude this module's weights from parameters() (and from optimisers): fine-tuning."""
        for p in self._all():
            if p.variable.role == "param":
                p.variable.trainable = False
        return self

    def unfreeze(self) -> "Module":
        for p in self._all():
            if p.variable.role == "param":
                p.variable.trainable = True
        return self

    # -- mode and state updates --------------------------------------------------------------
    def train(self, mode: bool = True) -> "Module":
        """Training mode for this module and every submodule (the next call builds the training graph)."""
        for m in self.modules():
            m.training = bool(mode)
        return self

    def eval(self) -> "Module":
        """Evaluation mode: dropout is the identity, BatchNorm uses its running statistics."""
        return self.train(False)

    def state_updates(self) -> dict:
        """{state tensor: new value} recorded by the most recent training-mode call of this module (or
        of the model containing it): running statistics and the step counter's increment."""
        out = {}
        for m in self.modules():
            out.update(m._pending)
        return out

    def record_update(self, state: Param, new_value):
        """Called by layers during a training-mode call: `state` takes `new_value` after the step."""
        self._pending[state] = new_value

    def step_counter(self) -> Tensor:
        """The int64 step counter of the root of the current call (created on first use, named
        `root/step`), incremented by that root's state_updates(): a per-step key for random masks."""
        root = _call_stack[0] if _call_stack else self
        if root._counter is None:
            c = dsl.param("step", np.int64(0), dtype=np.int64, trainable=False, role="state")
            c.variable.name, c.node.scope = f"{root.path}/step", root.path
            root._counter = c
        root._pending[root._counter] = root._counter + 1
        return root._counter

    # -- building graphs ---------------------------------------------------------------------
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} defines no forward()")

    def __call__(self, *args, **kwargs):
        is_root = not _call_stack
        if is_root and self.training:
            for m in self.modules():  # a new training graph: forget the updates of the previous one
                m._pending = {}
        entry = None
        if _recorder is not None:
            entry = [len(_call_stack), self, None]
            _recorder.append(entry)
        _call_stack.append(self)
        try:
            with scope(self.path if is_root else self.name):
                MODULE_SCOPES.add(current_scope())
                out = self.forward(*args, **kwargs)
        finally:
            _call_stack.pop()
        if entry is not None:
            entry[2] = out
        return out

    # -- description -------------------------------------------------------------------------
    def extra_repr(self) -> str:
        return ""

    def __repr__(self):
        inner = [f"  ({c.name}): " + repr(c).replace("\n", "\n  ") for c in self.children()]
        head = f"{type(self).__name__}({self.extra_repr()}"
        return head + ")" if not inner else head + "\n" + "\n".join(inner) + "\n)"

    def summary(self, input_shape, dtype=np.float32, batch=None) -> str:
        """A table of every layer called on an input of `input_shape` (without the batch dim):
        its output shape and its own trainable parameter count, with the totals. Built in eval mode
        (the recorded training-mode state updates are left as they were)."""
        global _recorder
        x = dsl.input("x", (batch,) + tuple(input_shape), dtype)
        modes = [(m, m.training) for m in self.modules()]
        self.eval()
        _recorder = []
        try:
            self(x)
            rows = _recorder
        finally:
            _recorder = None
            for m, t in modes:
                m.training = t
        return _table(self, rows)


def _fmt_out(out) -> str:
    if isinstance(out, Tensor):
        return shapes.fmt_shape(out.shape)
    if isinstance(out, (tuple, list)):
        return ", ".join(_fmt_out(o) for o in out)
    return "-"


def _table(root: Module, rows) -> str:
    counted: set[int] = set()
    lines = []
    for depth, m, out in rows:
        if m is root and len(rows) > 1:
            continue
        own = [p for p in m._params.values() if p.variable.role == "param" and id(p) not in counted]
        counted.update(id(p) for p in own)
        n = int(sum(p.value.size for p in own))
        label = m.path[len(root.path) + 1:] if m is not root else m.name
        lines.append((label or m.name, type(m).__name__, _fmt_out(out), n))
    head = ("layer", "type", "output shape", "params")
    widths = [max(len(str(r[i])) for r in lines + [head]) for i in range(4)]
    fmt = lambda r: f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]:>{widths[3]}}"
    rule = "-" * len(fmt(head))
    trainable = root.num_parameters(trainable_only=True)
    frozen = root.num_parameters(trainable_only=False) - trainable
    n_state = int(sum(p.value.size for p in root.state()))
    out = [f"{type(root).__name__} '{root.name}'", rule, fmt(head), rule] + [fmt(r) for r in lines] + [rule]
    out.append(f"total parameters: {trainable + frozen}  (trainable {trainable}, frozen {frozen}); state values: {n_state}")
    return "\n".join(out)


class Sequential(Module):
    """Layers applied in order: `Sequential(Conv2d(...), ReLU(), ..., name="lenet")`."""

    def __init__(self, *layers: Module, name=None):
        super().__init__(name)
        if len(layers) == 1 and isinstance(layers[0], (list, tuple)):
            layers = tuple(layers[0])
        self.layers = [self._adopt(m) for m in layers]

    def forward(self, x):
        for m in self.layers:
            x = m(x)
        return x

    def __getitem__(self, i):
        return self.layers[i]

    def __len__(self):
        return len(self.layers)

    def __iter__(self):
        return iter(self.layers)


class Residual(Module):
    """A skip connection: `body(x) + shortcut(x)`, the shortcut the identity unless given (a 1×1
    convolution to match channels, say), then an optional `activation` module (ResNet's post-add ReLU)."""

    def __init__(self, body: Module, shortcut: Module | None = None, activation: Module | None = None, name=None):
        super().__init__(name)
        self.body = body
        self.shortcut = shortcut
        self.activation = activation

    def forward(self, x):
        y = self.body(x) + (self.shortcut(x) if self.shortcut is not None else x)
        return self.activation(y) if self.activation is not None else y
