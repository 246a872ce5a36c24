"""Putting IB layers into a registry network and taking them out again.

``equip(model, x)`` returns a copy with one ``InformationBottleneck`` per prunable unit (found with the
pruning package's channel analysis, ``methods.pruning.graph``), placed as VIBNet places them:

- after the unit's nonlinearity: ``Conv -> BN -> ReLU -> IB`` and ``Linear -> ReLU -> IB`` (the paper's
  eq. 4 multiplies ``f_i = nonlinearity(BN(W h))``; the authors' VGG code puts the IB after the ReLU and
  before the max-pool). Precisely: the chain of per-channel modules that follows the unit's producing
  layer (BatchNorm, activations, dropout, pooling) is followed up to the next weight layer, Flatten or
  branch, and the IB goes right after the chain's last activation;
- where the chain has no activation, right after its last module. This is LeNet-5-Caffe (Caffe's
  ``lenet``, VIBNet Table 2), whose convolutions have no ReLU: ``conv -> max-pool -> IB``. The max-pool
  is then the only nonlinearity of the conv layer, so the IB multiplies ``f_i`` = conv + pool, as (4) asks;
- optionally on the input features (``input_bottleneck``, VIBNet Table 1 for LeNet-300-100): after the
  ``nn.Flatten`` of the input, one IB per pixel.

The IB is installed by replacing the module it follows with ``WithBottleneck(module, ib)``; the
equipped network is trained as is (the pruning graph need not trace it).

``to_plain(ib_model, x)`` returns ``(plain, keep)``: a copy without IB modules, of the registry
architecture (same module tree and state-dict keys), whose outputs equal the IB network's deterministic
eval-mode outputs ``x * mu * [kept]``, and the keep-masks of the units for ``methods.pruning.prune``.
Every IB's factor ``s = mu * [kept]`` is folded into weights:

- forward into the input weights of every consuming Conv/Linear (``W[:, c] *= s_c``; for a Linear after
  a Flatten, the channel's whole block of positions). Exact for any sign of ``s`` when only linear
  per-channel ops lie between (Flatten, average pooling, dropout, identity); exact for ``s >= 0``
  through positively homogeneous ones, ``f(s x) = s f(x)`` for ``s >= 0`` (ReLU, LeakyReLU, max-pooling);
- otherwise backward into the last affine map before the IB: a BatchNorm's weight and bias, or the
  producing layer's output rows and bias (``BN(x) * s`` is ``BN`` with ``s * weight`` and ``s * bias``,
  in train and eval mode alike). Exact for any sign when only linear ops lie between, for ``s >= 0``
  through positively homogeneous ones.

Removing a unit is exact when the ops from its IB to the next layer map zero to zero, which the linear
and homogeneous ones do; with any other op there (e.g. a BatchNorm after the IB, which maps 0 to a
constant) ``to_plain`` refuses to remove units of that layer (``FoldingError``).

The one case neither fold covers: a kept unit with ``mu < 0`` between a ReLU and a max-pool (VGG's last conv
of a stage): ``maxpool(mu * relu(y)) = mu * minpool(relu(y))`` for ``mu < 0``, which no network of the
registry architecture computes, and a per-channel scale module would make a network that neither the
pruning graph nor the checkpoint rebuild knows. ``to_plain`` then raises ``FoldingError`` naming the
unit, channels and ``mu`` values, rather than returning a network that differs from the trained one.
(A kept unit has ``mu^2 > sigma^2``; starting at ``mu ~ 1``, ``mu`` would have to cross zero, where the
KL term pushes it to be pruned, so this is not expected in practice.)
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
from torch import fx, nn

from methods.pruning.graph import INPUT_UNIT, Analysis, _shape, analyse
from methods.pruning.surgery import _set_module

from .layers import InformationBottleneck

_WEIGHT = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)
_NORM = nn.modules.batchnorm._BatchNorm
_ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Tanh, nn.Hardtanh, nn.Mish,
                nn.Hardswish, nn.Softsign, nn.Tanhshrink, nn.Sigmoid, nn.Softplus, nn.Hardsigmoid, nn.SELU,
                nn.CELU, nn.PReLU)
_POOLS = (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d,
          nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d, nn.AdaptiveMaxPool1d,
          nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d)
_PASS = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.Identity)
_CHANNELWISE = (_NORM,) + _ACTIVATIONS + _POOLS + _PASS

# How a per-channel factor s moves through an op: "linear" for any s, "homogeneous" for s >= 0.
_LINEAR_MODULES = (nn.Flatten, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d, nn.AdaptiveAvgPool1d,
                   nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d) + _PASS
_HOMOGENEOUS_MODULES = (nn.ReLU, nn.LeakyReLU, nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AdaptiveMaxPool1d,
                        nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d)
_LINEAR_FUNCS = {torch.flatten, "flatten", "view", "reshape", torch.reshape, torch.nn.functional.avg_pool2d,
                 torch.nn.functional.adaptive_avg_pool2d, torch.nn.functional.dropout, "contiguous", "clone"}
_HOMOGENEOUS_FUNCS = {torch.relu, torch.nn.functional.relu, "relu", torch.nn.functional.max_pool2d,
                      torch.nn.functional.adaptive_max_pool2d}


class FoldingError(ValueError):
    """An IB factor cannot be folded exactly into the registry architecture."""


class WithBottleneck(nn.Module):
    """``ib(inner(x))``: a module of the registry network followed by its information bottleneck."""

    def __init__(self, inner: nn.Module, ib: InformationBottleneck):
        super().__init__()
        self.inner, self.ib = inner, ib

    def forward(self, x):
        return self.ib(self.inner(x))


@dataclass(frozen=True)
class Site:
    """Where a unit's IB goes: after the module ``path``, multiplying ``channels`` maps of size ``spatial``."""

    unit: str
    path: str
    channels: int
    spatial: tuple[int, ...]


# ---------------------------------------------------------------- finding the sites

def _module_calls(gm: fx.GraphModule) -> dict[str, list[fx.Node]]:
    calls: dict[str, list[fx.Node]] = {}
    for n in gm.graph.nodes:
        if n.op == "call_module":
            calls.setdefault(n.target, []).append(n)
    return calls


def _single_call(calls: dict[str, list[fx.Node]], path: str, why: str) -> fx.Node:
    nodes = calls.get(path, [])
    if len(nodes) != 1:
        raise NotImplementedError(f"VIBNet: module {path!r} ({why}) is called {len(nodes)} times in the forward "
                                  f"pass; an IB can only follow a module that is called once")
    return nodes[0]


def _same_channels(a: Analysis, node: fx.Node, root: int) -> bool:
    r = a.node_refs.get(node.name)
    return r is not None and r[1] == 1 and a.find(r[0]) == root


def find_sites(model: nn.Module, example_input: torch.Tensor, *, input_bottleneck: bool = False) -> list[Site]:
    """The IB sites of ``model`` in execution order (the input site first), see the module docstring."""
    a = analyse(model, example_input)
    gm = a.gm
    calls = _module_calls(gm)
    sites = []
    if input_bottleneck:
        if a.input_unit is None:
            raise ValueError(f"VIBNet input_bottleneck=True needs a network whose first layer is a Linear after "
                             f"an nn.Flatten of the input (an MLP such as lenet_300_100); "
                             f"{type(model).__name__} has none")
        path = a.input_flatten[0]
        if not isinstance(gm.get_submodule(path), nn.Flatten):
            raise NotImplementedError(f"VIBNet: the input flatten {path!r} is a "
                                      f"{type(gm.get_submodule(path)).__name__}, expected nn.Flatten (an "
                                      f"already pruned input cannot take a bottleneck)")
        shape = _shape(_single_call(calls, path, "input flatten"))
        sites.append(Site(INPUT_UNIT, path, int(shape[1]), ()))
    for unit in a.units:
        if unit.tied or unit.maps:
            raise NotImplementedError(f"VIBNet: unit {unit.name!r} is a residual stream (layers {list(unit.members)}"
                                      f"{', shortcut maps ' + str(list(unit.maps)) if unit.maps else ''}); "
                                      f"bottlenecks on residual streams are not supported (the paper uses "
                                      f"plain networks)")
        root = a.unit_root[unit.name]
        node = _single_call(calls, unit.members[0], f"producer of unit {unit.name!r}")
        chain = [node]
        while len(node.users) == 1:
            user = next(iter(node.users))
            if not _same_channels(a, user, root):
                break
            if user.op != "call_module":
                raise NotImplementedError(f"VIBNet: unit {unit.name!r} is followed by the per-channel operation "
                                          f"{user.format_node()}; bottlenecks are placed by module, so that "
                                          f"operation must be an nn.Module")
            if not isinstance(gm.get_submodule(user.target), _CHANNELWISE):
                break
            chain.append(user)
            node = user
        acts = [n for n in chain[1:] if isinstance(gm.get_submodule(n.target), _ACTIVATIONS)]
        at = acts[-1] if acts else chain[-1]
        _single_call(calls, at.target, f"IB site of unit {unit.name!r}")
        shape = _shape(at)
        sites.append(Site(unit.name, at.target, int(shape[1]), tuple(int(s) for s in shape[2:])))
    return sites


def equip(model: nn.Module, example_input: torch.Tensor, *, input_bottleneck: bool = False, form: str = "paper",
          threshold: float = 0.0, min_keep: int = 1, min_keep_fraction: float = 0.0) -> nn.Module:
    """A copy of ``model`` with an IB after every site (``find_sites``). ``min_keep`` and
    ``min_keep_fraction`` give each IB's floor ``max(1, min_keep, ceil(fraction * channels))``."""
    sites = find_sites(model, example_input, input_bottleneck=input_bottleneck)
    out = copy.deepcopy(model)
    for i, s in enumerate(sites):
        floor = max(1, int(min_keep), math.ceil(min_keep_fraction * s.channels))
        ib = InformationBottleneck(s.channels, spatial=s.spatial, form=form, threshold=threshold,
                                   min_keep=floor, unit=s.unit, index=i).to(example_input.device)
        _set_module(out, s.path, WithBottleneck(out.get_submodule(s.path), ib))
    return out


def bottlenecks(model: nn.Module) -> list[InformationBottleneck]:
    """The IB layers of an equipped network in execution order."""
    return sorted((m for m in model.modules() if isinstance(m, InformationBottleneck)), key=lambda m: m.index)


# ---------------------------------------------------------------- folding

def _kind(gm: fx.GraphModule, node: fx.Node) -> str | None:
    """"linear", "homogeneous" or None (see the module docstring) for a per-channel op."""
    if node.op == "call_module":
        m = gm.get_submodule(node.target)
        if isinstance(m, _LINEAR_MODULES):
            return "linear"
        if isinstance(m, _HOMOGENEOUS_MODULES):
            return "homogeneous"
        return None
    if node.target in _LINEAR_FUNCS:
        return "linear"
    if node.target in _HOMOGENEOUS_FUNCS:
        return "homogeneous"
    return None


def _worst(kinds) -> str | None:
    kinds = set(kinds)
    if None in kinds:
        return None
    return "homogeneous" if "homogeneous" in kinds else "linear"


def _forward(a: Analysis, start: fx.Node) -> tuple[list[tuple[str, int]], str | None, list[str]]:
    """Consumers ``(path, features per channel)`` reached from ``start``, the worst op kind on the way and
    the ops on the way, described as ``"target (kind)"``."""
    gm = a.gm
    consumers, kinds, ops, seen = [], [], [], set()
    frontier = list(start.users)
    while frontier:
        node = frontier.pop()
        if node.op == "output":
            raise NotImplementedError(f"VIBNet: the bottleneck after {start.target!r} reaches the network output")
        if node.name in seen or node.name not in a.node_refs:
            continue  # visited, or a shape query that carries no channels
        seen.add(node.name)
        if node.op == "call_module" and isinstance(gm.get_submodule(node.target), _WEIGHT):
            consumers.append((node.target, a.layers[node.target][0].in_ref[1]))
            continue
        k = _kind(gm, node)
        kinds.append(k)
        what = type(gm.get_submodule(node.target)).__name__ if node.op == "call_module" else str(node.target)
        ops.append(f"{node.name} ({what}: {k or 'not foldable'})")
        frontier.extend(node.users)
    return consumers, _worst(kinds), ops


def _backward(a: Analysis, start: fx.Node) -> tuple[str | None, str | None]:
    """The last affine module before the IB (a BatchNorm with weights, or the producing Conv/Linear) and
    the worst op kind between it and the IB."""
    gm = a.gm
    kinds, node = [], start
    while node.op == "call_module":
        m = gm.get_submodule(node.target)
        if isinstance(m, _WEIGHT) or (isinstance(m, _NORM) and m.affine):
            return node.target, _worst(kinds)
        kinds.append(_kind(gm, node))
        node = node.args[0]
    return None, None  # reached the network input, or a functional op


def _scale_columns(layer: nn.Module, s: torch.Tensor, k: int) -> None:
    w = layer.weight
    col = s.to(w.dtype).repeat_interleave(k)
    w.mul_(col.reshape(1, -1, *([1] * (w.dim() - 2))))


def _scale_outputs(m: nn.Module, s: torch.Tensor) -> None:
    w = m.weight
    w.mul_(s.to(w.dtype).reshape(-1, *([1] * (w.dim() - 1))))
    if m.bias is not None:
        m.bias.mul_(s.to(m.bias.dtype))


def _unwrap(ib_model: nn.Module) -> tuple[nn.Module, list[tuple[str, InformationBottleneck]]]:
    plain = copy.deepcopy(ib_model)
    wrapped = [(p, m.ib) for p, m in plain.named_modules() if isinstance(m, WithBottleneck)]
    if not wrapped:
        raise ValueError("to_plain: the network has no IB layers (use vibnet.equip first)")
    for path, _ in wrapped:
        _set_module(plain, path, plain.get_submodule(path).inner)
    return plain, sorted(wrapped, key=lambda pm: pm[1].index)


@torch.no_grad()
def to_plain(ib_model: nn.Module, example_input: torch.Tensor) -> tuple[nn.Module, dict[str, torch.Tensor]]:
    """``(plain, keep)``: the registry network with every IB factor ``mu * [kept]`` folded into weights
    (``plain`` computes what ``ib_model`` computes in eval mode) and the keep-masks per unit."""
    plain, wrapped = _unwrap(ib_model)
    a = analyse(plain, example_input)
    calls = _module_calls(a.gm)
    keep = {}
    for path, ib in wrapped:
        mask = ib.keep_mask().cpu()
        s = ib.deterministic_scale().detach().to(example_input.device)
        node = _single_call(calls, path, f"IB site of unit {ib.unit!r}")
        consumers, fwd, ops = _forward(a, node)
        affine, bwd = _backward(a, node)
        if fwd is None and not bool(mask.all()):
            raise FoldingError(
                f"VIBNet: unit {ib.unit!r} (IB after {path!r}) loses {int((~mask).sum())} channels, but the ops "
                f"between the IB and the next layer ({'; '.join(ops)}) need not map a removed (zero) channel "
                f"to zero, so removing it would change the network")
        negative = s < 0
        fwd_ok = torch.full_like(negative, fwd == "linear") | (~negative & (fwd == "homogeneous"))
        bwd_ok = torch.full_like(negative, bwd == "linear") | (~negative & (bwd == "homogeneous"))
        bwd_ok &= affine is not None
        if not bool((fwd_ok | bwd_ok).all()):
            bad = torch.nonzero(~(fwd_ok | bwd_ok)).flatten()
            raise FoldingError(
                f"VIBNet: unit {ib.unit!r} (IB after {path!r}): kept channels {bad.tolist()[:10]} have mu "
                f"{[round(v, 4) for v in s[bad].tolist()[:10]]}, and a negative factor can be folded neither "
                f"forward (ops to the next layer: {'; '.join(ops)}) nor backward (into {affine!r}, ops between: "
                f"{bwd or 'not foldable'}) into this architecture exactly")
        forward_part = torch.where(fwd_ok, s, torch.ones_like(s))
        backward_part = torch.where(fwd_ok, torch.ones_like(s), s)
        if not bool(fwd_ok.all()):
            _scale_outputs(plain.get_submodule(affine), backward_part)
        for consumer, k in consumers:
            _scale_columns(plain.get_submodule(consumer), forward_part, k)
        keep[ib.unit] = mask
    return plain, keep
