"""Channel-dependency analysis: which output channels / neurons can be removed, and together with what.

The model is traced with ``torch.fx`` (standard layers and the channel-map modules as leaves) and run once
on the example input to learn every tensor's shape. Each tensor whose dimension 1 carries channels gets a
reference ``(space, k)``: its dimension 1 has ``size(space) * k`` entries and entry ``j`` belongs to channel
``j // k`` of ``space`` (``k > 1`` only after a Flatten of a feature map, where a channel owns its k spatial
positions, channel-major as ``torch.flatten`` lays them out).

- A Conv/Linear creates a new space (its output channels) and consumes its input's reference.
- BatchNorm, activations, dropout and spatial pooling keep the reference (per-channel operations).
- A Flatten multiplies ``k`` by the number of spatial positions; an ``nn.Flatten`` applied directly to the
  network input instead creates the space of input features (the special unit ``"input"``).
- An addition of two tensors ties their spaces (union-find): a residual stream is one space fed by all the
  layers that add into it, and its channels are removed from all of them at once.
- A channel map (the option-A ``ZeroPadShortcut``, or the ``ChannelScatter`` that replaces it after
  pruning) is a fixed linear map from one space to another: input channel ``src[i]`` -> output channel
  ``dst[i]``. It does not tie the two spaces (removing an input channel only zeroes the output channel it
  fed, removing an output channel only drops that copy), so each residual stream stays its own unit.

Anything else that touches a channel tensor (concatenation, grouped convolutions, channel slicing, products
of two feature maps, ...) raises ``NotImplementedError`` naming the graph node: an unknown op is never
guessed at. A space class is prunable when a Conv/Linear produces it, it does not contain the network input
and it does not reach the network output (the classifier's outputs are never prunable).
"""
from __future__ import annotations

import math
import operator
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import fx, nn
from torch.fx.passes.shape_prop import ShapeProp

from .modules import ChannelScatter, FlattenSelect, ZeroPadShortcut

INPUT_UNIT = "input"

Ref = tuple[int, int]  # (space id, features per channel)

_CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_NORM = nn.modules.batchnorm._BatchNorm
_MAPS = (ZeroPadShortcut, ChannelScatter)
# Per-channel modules that keep the channel axis; the first group maps 0 to 0, which only matters for
# dead-unit detection (surgery and masked copies are exact for any of them).
_ZERO_KEEPING_MODULES = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Tanh, nn.Hardtanh,
                         nn.Mish, nn.Hardswish, nn.Softsign, nn.Tanhshrink, nn.Dropout, nn.Dropout1d,
                         nn.Dropout2d, nn.Dropout3d, nn.Identity, nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d,
                         nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d, nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d,
                         nn.AdaptiveAvgPool3d, nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d)
_OTHER_ELEMENTWISE_MODULES = (nn.Sigmoid, nn.Softplus, nn.Hardsigmoid, nn.SELU, nn.CELU)
_ZERO_KEEPING_FUNCS = {torch.relu, F.relu, torch.tanh, F.tanh, F.gelu, F.silu, F.leaky_relu, F.elu, F.relu6,
                       F.hardtanh, F.dropout, F.max_pool2d, F.avg_pool2d, F.adaptive_avg_pool2d,
                       F.adaptive_max_pool2d, torch.nn.functional.mish}
_OTHER_ELEMENTWISE_FUNCS = {torch.sigmoid, F.sigmoid, F.softplus}
_ZERO_KEEPING_METHODS = {"relu", "relu_", "tanh", "tanh_", "contiguous", "clone", "detach"}
_OTHER_ELEMENTWISE_METHODS = {"sigmoid", "sigmoid_"}
_ADD = {operator.add, operator.iadd, torch.add, "add", "add_", operator.sub, operator.isub, torch.sub, "sub",
        "sub_"}
_SCALE = {operator.mul, operator.imul, torch.mul, operator.truediv, operator.itruediv, torch.div, "mul", "mul_",
          "div", "div_"}
_FLATTEN = {torch.flatten, "flatten"}
_RESHAPE = {"view", "reshape", torch.reshape}
_SHAPE_QUERIES = {"size", "dim"}


@dataclass(frozen=True)
class Unit:
    """A group of output channels / neurons removed together.

    ``name`` is the module path of its first producing layer in execution order (``"input"`` for the
    input features of an MLP); ``members`` are all Conv/Linear layers whose outputs are these channels
    (more than one for a residual stream), ``norms`` the BatchNorm layers sliced with them, ``consumers``
    the Conv/Linear layers whose inputs lose them, ``maps`` the channel-map modules (option-A shortcuts)
    reading or writing them, ``kinds`` the class names of all those modules."""

    name: str
    size: int
    members: tuple[str, ...]
    norms: tuple[str, ...]
    consumers: tuple[str, ...]
    maps: tuple[str, ...]
    kinds: tuple[str, ...]

    @property
    def tied(self) -> bool:
        return len(self.members) > 1


@dataclass
class LayerCall:
    path: str
    in_ref: Ref
    out_space: int


@dataclass
class MapCall:
    path: str
    in_space: int
    out_space: int
    src: torch.Tensor
    dst: torch.Tensor
    stride: int


class _Tracer(fx.Tracer):
    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return isinstance(m, _MAPS + (FlattenSelect,)) or super().is_leaf_module(m, qualname)


def trace(model: nn.Module) -> fx.GraphModule:
    """``torch.fx`` graph of ``model`` with standard layers and channel maps as leaves (shares modules)."""
    tracer = _Tracer()
    try:
        graph = tracer.trace(model)
    except Exception as exc:  # fx raises TraceError, TypeError, ... depending on the construct
        raise NotImplementedError(
            f"structural pruning needs a torch.fx-traceable model; tracing {type(model).__name__} failed: "
            f"{type(exc).__name__}: {exc}") from exc
    return fx.GraphModule(tracer.root, graph)


def _propagate_shapes(gm: fx.GraphModule, model: nn.Module, example_input: torch.Tensor) -> None:
    # Eval mode and no_grad: the shape pass must not update BatchNorm statistics or need batch > 1.
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    gm.eval()
    try:
        with torch.no_grad():
            ShapeProp(gm).propagate(example_input)
    finally:
        for m, mode in modes:
            m.training = mode


def _shape(node) -> tuple[int, ...] | None:
    meta = node.meta.get("tensor_meta") if isinstance(node, fx.Node) else None
    return tuple(meta.shape) if meta is not None and hasattr(meta, "shape") else None


def _zero_pad_pairs(m: ZeroPadShortcut) -> tuple[torch.Tensor, torch.Tensor]:
    src = torch.arange(m.in_channels)
    return src, src + m.pad_front


@dataclass
class Analysis:
    """Result of ``analyse``: the traced graph, the channel spaces and their unions, per-layer records and
    the prunable units. Surgery, masked copies and dead-unit detection all read it."""

    gm: fx.GraphModule
    sizes: list[int] = field(default_factory=list)
    origins: list[str] = field(default_factory=list)  # "input", "flat_input", "layer", "map"
    parent: list[int] = field(default_factory=list)
    layers: dict[str, list[LayerCall]] = field(default_factory=dict)
    norms: dict[str, list[Ref]] = field(default_factory=dict)
    maps: dict[str, list[MapCall]] = field(default_factory=dict)
    node_refs: dict[str, Ref] = field(default_factory=dict)
    not_zero_keeping: set[int] = field(default_factory=set)  # spaces seen by an op with f(0) != 0
    output_spaces: set[int] = field(default_factory=set)
    input_flatten: tuple[str, int] | None = None  # (nn.Flatten/FlattenSelect path, flat input space)
    units: list[Unit] = field(default_factory=list)
    input_unit: Unit | None = None
    unit_root: dict[str, int] = field(default_factory=dict)  # unit name -> class root

    # ---------------------------------------------------------------- union-find
    def new_space(self, size: int, origin: str) -> int:
        self.sizes.append(int(size))
        self.origins.append(origin)
        self.parent.append(len(self.parent))
        return len(self.parent) - 1

    def find(self, s: int) -> int:
        while self.parent[s] != s:
            self.parent[s] = self.parent[self.parent[s]]
            s = self.parent[s]
        return s

    def union(self, a: int, b: int, where: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return
        if self.sizes[ra] != self.sizes[rb]:
            raise NotImplementedError(f"{where}: ties channel groups of different sizes ({self.sizes[ra]} vs "
                                      f"{self.sizes[rb]})")
        self.parent[max(ra, rb)] = min(ra, rb)

    def units_by_name(self, include_input: bool = True) -> dict[str, Unit]:
        out = {u.name: u for u in self.units}
        if include_input and self.input_unit is not None:
            out[INPUT_UNIT] = self.input_unit
        return out


def _module_name(gm: fx.GraphModule, path: str) -> str:
    return type(gm.get_submodule(path)).__name__


class _Walker:
    def __init__(self, gm: fx.GraphModule):
        self.gm = gm
        self.a = Analysis(gm)

    def ref(self, arg) -> Ref | None:
        return self.a.node_refs.get(arg.name) if isinstance(arg, fx.Node) else None

    def fail(self, node: fx.Node, why: str):
        raise NotImplementedError(
            f"structural pruning cannot follow channels through graph node {node.format_node()}: {why}. "
            f"Supported: Conv (groups=1), Linear, BatchNorm, per-channel activations/dropout/pooling, "
            f"Flatten, residual additions and the option-A zero-pad shortcut")

    def channel_inputs(self, node: fx.Node) -> list[tuple[fx.Node, Ref]]:
        found = []
        for arg in node.all_input_nodes:
            r = self.ref(arg)
            if r is not None:
                found.append((arg, r))
        return found

    def keep(self, node: fx.Node, src: fx.Node, r: Ref, zero_keeping: bool) -> None:
        """Per-channel op: output channels are the input's."""
        si, so = _shape(src), _shape(node)
        if so is None or si is None or so[:2] != si[:2]:
            self.fail(node, f"expected the channel axis to be kept, shapes {si} -> {so}")
        if not zero_keeping:
            self.a.not_zero_keeping.add(r[0])
        self.a.node_refs[node.name] = r

    def record_layer(self, path: str, in_ref: Ref, size_out: int) -> int:
        calls = self.a.layers.setdefault(path, [])
        out = self.a.new_space(size_out, "layer")
        if calls:  # a layer called twice has one set of channels: tie its inputs and outputs across calls
            first = calls[0]
            if first.in_ref[1] != in_ref[1]:
                raise NotImplementedError(f"layer {path} is called on inputs of different layouts")
            self.a.union(first.in_ref[0], in_ref[0], f"layer {path} (inputs of repeated calls)")
            self.a.union(first.out_space, out, f"layer {path} (outputs of repeated calls)")
        calls.append(LayerCall(path, in_ref, out))
        return out

    def flatten(self, node: fx.Node, src: fx.Node, r: Ref, start: int, end: int) -> None:
        si, so = _shape(src), _shape(node)
        if si is None or so is None:
            self.fail(node, "unknown shapes")
        end = end % len(si)
        if start % len(si) != 1 or end != len(si) - 1:
            self.fail(node, f"only a flatten of all dims from 1 keeps channels blocked, got start_dim={start}, "
                            f"end_dim={end}")
        self.a.node_refs[node.name] = (r[0], r[1] * math.prod(si[2:]))

    # ---------------------------------------------------------------- node kinds
    def visit(self, node: fx.Node) -> None:
        if node.op == "placeholder":
            shape = _shape(node)
            if shape is not None and len(shape) >= 2:
                self.a.node_refs[node.name] = (self.a.new_space(shape[1], "input"), 1)
            return
        if node.op == "get_attr":
            return
        if node.op == "output":
            for arg in node.all_input_nodes:
                r = self.ref(arg)
                if r is not None:
                    self.a.output_spaces.add(r[0])
            return
        ins = self.channel_inputs(node)
        if node.op == "call_module":
            self.module(node, self.gm.get_submodule(node.target), ins)
        elif ins:
            self.function(node, ins)

    def module(self, node: fx.Node, m: nn.Module, ins) -> None:
        path = node.target
        if not ins:
            return  # acts on no channel tensor (e.g. a constant)
        if len(ins) != 1 or len(node.args) != 1 or node.kwargs:
            self.fail(node, "a module call with more than one tensor argument")
        src, r = ins[0]
        size = self.a.sizes[r[0]]
        shape_in = _shape(src)
        if isinstance(m, _CONV):
            if m.groups != 1 or getattr(m, "transposed", False):
                self.fail(node, f"grouped/transposed convolution (groups={m.groups})")
            if r[1] != 1 or size != m.in_channels:
                self.fail(node, f"input has {size}x{r[1]} channel entries, the conv expects {m.in_channels}")
            self.a.node_refs[node.name] = (self.record_layer(path, r, m.out_channels), 1)
        elif isinstance(m, nn.Linear):
            if shape_in is None or len(shape_in) != 2 or size * r[1] != m.in_features:
                self.fail(node, f"Linear on input of shape {shape_in} (channel layout {size}x{r[1]})")
            self.a.node_refs[node.name] = (self.record_layer(path, r, m.out_features), 1)
        elif isinstance(m, _NORM):
            if size * r[1] != m.num_features:
                self.fail(node, f"BatchNorm with {m.num_features} features on {size}x{r[1]} channel entries")
            refs = self.a.norms.setdefault(path, [])
            if refs:
                self.a.union(refs[0][0], r[0], f"norm {path} (repeated calls)")
            refs.append(r)
            self.keep(node, src, r, zero_keeping=True)
        elif isinstance(m, _MAPS):
            if r[1] != 1 or size != m.in_channels:
                self.fail(node, f"channel map expects {m.in_channels} channels, input has {size}x{r[1]}")
            s, d = m.pairs() if isinstance(m, ChannelScatter) else _zero_pad_pairs(m)
            out = self.a.new_space(m.out_channels, "map")
            calls = self.a.maps.setdefault(path, [])
            if calls:
                self.a.union(calls[0].in_space, r[0], f"map {path} (repeated calls)")
                self.a.union(calls[0].out_space, out, f"map {path} (repeated calls)")
            calls.append(MapCall(path, r[0], out, s.cpu(), d.cpu(), m.stride))
            self.a.node_refs[node.name] = (out, 1)
        elif isinstance(m, (nn.Flatten, FlattenSelect)):
            from_input = src.op == "placeholder"
            if isinstance(m, FlattenSelect) and not from_input:
                self.fail(node, "FlattenSelect is only supported directly on the network input")
            if from_input:
                so = _shape(node)
                if so is None or len(so) != 2:
                    self.fail(node, f"flattening the input to shape {so}")
                flat = self.a.new_space(so[1], "flat_input")
                if self.a.input_flatten is None:
                    self.a.input_flatten = (path, flat)
                self.a.node_refs[node.name] = (flat, 1)
            else:
                self.flatten(node, src, r, m.start_dim, m.end_dim)
        elif isinstance(m, _ZERO_KEEPING_MODULES):
            self.keep(node, src, r, zero_keeping=True)
        elif isinstance(m, _OTHER_ELEMENTWISE_MODULES) or (isinstance(m, nn.PReLU) and m.num_parameters == 1):
            self.keep(node, src, r, zero_keeping=isinstance(m, nn.PReLU))
        else:
            self.fail(node, f"unsupported module type {type(m).__name__}")

    def function(self, node: fx.Node, ins) -> None:
        target = node.target
        if node.op == "call_function" and target is getattr:
            return  # x.shape / x.dtype: no tensor flows on
        if node.op == "call_method" and target in _SHAPE_QUERIES:
            return
        first = node.args[0] if node.args else None
        first_ref = self.ref(first)
        if target in _ADD:
            if len(node.args) != 2 or node.kwargs:
                self.fail(node, "addition with extra arguments (alpha=...)")
            a, b = node.args
            ra, rb = self.ref(a), self.ref(b)
            if ra is not None and rb is not None:
                if _shape(a) != _shape(b) or ra[1] != rb[1]:
                    self.fail(node, f"adding tensors of shapes {_shape(a)} and {_shape(b)} (broadcasting over "
                                    f"channels is not supported)")
                self.a.union(ra[0], rb[0], f"graph node {node.name}")
                self.a.node_refs[node.name] = ra
                return
            other = b if ra is not None else a
            if isinstance(other, fx.Node):
                self.fail(node, "adding a tensor that carries no traced channels (a constant or buffer)")
            src, r = ins[0]
            self.keep(node, src, r, zero_keeping=other == 0)
            return
        if target in _SCALE:
            if len(node.args) != 2 or node.kwargs or first_ref is None or isinstance(node.args[1], fx.Node):
                self.fail(node, "only scaling a channel tensor by a Python number is supported")
            self.keep(node, first, first_ref, zero_keeping=True)
            return
        if len(ins) != 1 or first_ref is None:
            self.fail(node, "an operation combining several channel tensors")
        if target in _ZERO_KEEPING_FUNCS or target in _ZERO_KEEPING_METHODS:
            self.keep(node, first, first_ref, zero_keeping=True)
        elif target in _OTHER_ELEMENTWISE_FUNCS or target in _OTHER_ELEMENTWISE_METHODS:
            self.keep(node, first, first_ref, zero_keeping=False)
        elif target in _FLATTEN:
            start = node.args[1] if len(node.args) > 1 else node.kwargs.get("start_dim", 0)
            end = node.args[2] if len(node.args) > 2 else node.kwargs.get("end_dim", -1)
            self.flatten(node, first, first_ref, start, end)
        elif target in _RESHAPE:
            # Accept only x.view(batch, -1): a literal feature count would break once channels are removed.
            so = _shape(node)
            dims = list(node.args[1:])
            if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
                dims = list(dims[0])
            if so is None or len(so) != 2 or len(dims) != 2 or dims[1] != -1:
                self.fail(node, f"reshape to {dims}; only x.view(x.size(0), -1) (a flatten) is supported")
            self.flatten(node, first, first_ref, 1, -1)
        else:
            self.fail(node, "unsupported operation")


def analyse(model: nn.Module, example_input: torch.Tensor) -> Analysis:
    """Trace ``model`` (shares its modules) and find its channel spaces and prunable units."""
    if not isinstance(example_input, torch.Tensor):
        raise TypeError(f"example_input must be a tensor (a batch of inputs), got {type(example_input).__name__}")
    gm = trace(model)
    _propagate_shapes(gm, model, example_input)
    walker = _Walker(gm)
    for node in gm.graph.nodes:
        walker.visit(node)
    a = walker.a
    _build_units(a)
    return a


def _build_units(a: Analysis) -> None:
    members: dict[int, list[str]] = {}
    for path, calls in a.layers.items():  # dicts keep first-call (execution) order
        members.setdefault(a.find(calls[0].out_space), []).append(path)
    norms: dict[int, list[str]] = {}
    for path, refs in a.norms.items():
        norms.setdefault(a.find(refs[0][0]), []).append(path)
    consumers: dict[int, list[str]] = {}
    for path, calls in a.layers.items():
        consumers.setdefault(a.find(calls[0].in_ref[0]), []).append(path)
    maps: dict[int, list[str]] = {}
    for path, calls in a.maps.items():
        for s in (calls[0].in_space, calls[0].out_space):
            maps.setdefault(a.find(s), [])
            if path not in maps[a.find(s)]:
                maps[a.find(s)].append(path)
    origins: dict[int, set[str]] = {}
    for s, o in enumerate(a.origins):
        origins.setdefault(a.find(s), set()).add(o)
    at_output = {a.find(s) for s in a.output_spaces}

    def make(name: str, root: int) -> Unit:
        paths = members.get(root, []) + norms.get(root, []) + consumers.get(root, []) + maps.get(root, [])
        return Unit(name=name, size=a.sizes[root], members=tuple(members.get(root, [])),
                    norms=tuple(norms.get(root, [])), consumers=tuple(consumers.get(root, [])),
                    maps=tuple(maps.get(root, [])),
                    kinds=tuple(sorted({_module_name(a.gm, p) for p in paths})))

    for root, paths in members.items():
        if origins[root] <= {"layer", "map"} and root not in at_output:
            if paths[0] == INPUT_UNIT:
                raise NotImplementedError(f"a layer is named {INPUT_UNIT!r}, which is reserved for the input unit")
            a.units.append(make(paths[0], root))
            a.unit_root[paths[0]] = root
    if a.input_flatten is not None:
        root = a.find(a.input_flatten[1])
        users = consumers.get(root, [])
        if (origins[root] == {"flat_input"} and root not in at_output and users and root not in maps
                and all(isinstance(a.gm.get_submodule(p), nn.Linear) for p in users)):
            a.input_unit = make(INPUT_UNIT, root)
            a.unit_root[INPUT_UNIT] = root


def prunable_units(model: nn.Module, example_input: torch.Tensor, *, include_input: bool = False) -> list[Unit]:
    """Every group of output channels / neurons that can be removed together, in execution order.

    ``include_input=True`` adds the unit ``"input"`` (the input features of an MLP whose first layer is a
    Linear after an ``nn.Flatten`` of the input, VIBNet Table 1) where the model has one; ``prune`` accepts
    a mask for it either way."""
    a = analyse(model, example_input)
    return list(a.units) + ([a.input_unit] if include_input and a.input_unit is not None else [])

