"""Argument checks shared by the model builders.

Every builder validates its own arguments (so calling ``MODELS[name](...)`` directly is as safe as
``build_model``), and every message names the model, the argument at fault and what was expected.
"""
from __future__ import annotations

from typing import Any, Iterable, Sequence


def check_num_classes(model: str, num_classes: Any) -> int:
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"model {model!r}: num_classes must be a positive int, got {num_classes!r}")
    return num_classes


def check_input_shape(model: str, input_shape: Any, *, channels: int | None = None,
                      min_hw: int = 1) -> tuple[int, int, int]:
    """``input_shape`` as a (C, H, W) tuple of positive ints, optionally with a fixed C and a minimum
    spatial side (stride-32 networks need at least 32 pixels to keep a 1x1 map)."""
    try:
        shape = tuple(input_shape)
    except TypeError:
        shape = ()
    if len(shape) != 3 or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 1 for s in shape):
        raise ValueError(f"model {model!r}: input_shape must be (C, H, W) with three positive ints, "
                         f"got {input_shape!r}")
    c, h, w = shape
    if channels is not None and c != channels:
        raise ValueError(f"model {model!r}: input_shape must have {channels} channels, got C={c} in {shape}")
    if h < min_hw or w < min_hw:
        raise ValueError(f"model {model!r}: input_shape needs H and W >= {min_hw} (smaller inputs shrink "
                         f"below a 1x1 feature map in this network), got {shape}")
    return shape


def check_choice(model: str, param: str, value: Any, choices: Iterable[str]) -> str:
    choices = list(choices)
    if value not in choices:
        raise ValueError(f"model {model!r}: {param}={value!r} is not one of {choices}")
    return value


def check_positive_int(model: str, param: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"model {model!r}: {param} must be a positive int, got {value!r}")
    return value


def check_int_list(model: str, param: str, value: Any) -> tuple[int, ...]:
    """A (possibly empty) list of positive ints, e.g. hidden layer widths."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise ValueError(f"model {model!r}: {param} must be a list of positive ints, got {value!r}")
    for v in value:
        check_positive_int(model, f"{param} entry", v)
    return tuple(value)


def check_probability(model: str, param: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise ValueError(f"model {model!r}: {param} must be a number in [0, 1), got {value!r}")
    return float(value)


def check_bool(model: str, param: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"model {model!r}: {param} must be True or False, got {value!r}")
    return value
