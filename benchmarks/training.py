"""One training loop for every protocol of the papers.

``train`` runs SGD (optionally Nesterov) or Adam with a step / multi-step / constant learning-rate
schedule, weight decay, and the protocol's augmentation, selects the checkpoint on the *validation* split
(never the test set) or keeps the last epoch, and is resumable: it saves its whole state (model,
optimizer, scheduler, RNG, best-so-far weights, history) atomically after every epoch, and optionally
every N steps; rerunning with the same ``state_path`` continues from there and ends with the same weights
as an uninterrupted run.

Why resume is exact: the batch order of epoch e is a permutation drawn from a generator seeded with
(seed, e), and the augmentation of step s of epoch e from one seeded with (seed, e, s), so neither depends
on how many steps ran before in this process; the global RNG (dropout, noise layers) is saved in the
checkpoint and restored. For in-memory datasets (MNIST, CIFAR) this makes an interrupted-and-resumed run
bit-identical on the same machine. File-backed datasets (ImageNet-style) use a DataLoader whose worker
seeds come from the same per-epoch generator; they resume exactly at epoch boundaries.

Hooks: ``extra_losses`` are terms ``f(model) -> scalar tensor`` added to the cross-entropy (e.g. VIBNet's
KL term); ``callbacks`` are ``Callback`` objects called after every optimiser step (``on_step_end``, with a
``StepContext``) and after every epoch's validation (``on_epoch_end``, with an ``EpochContext``). A
callback may hold state (a running estimate, records); its ``state_dict()`` is saved in the trainer's state
file at every save point, after that step's or epoch's callbacks ran, and restored with ``load_state_dict``
on resume, so a killed and resumed run leaves its callbacks in the same state as an uninterrupted one.
"""
from __future__ import annotations

import logging
import math
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from . import fileio
from .datasets import Splits, TensorImageDataset, normalize

log = logging.getLogger("ibbench.train")

ExtraLoss = Callable[[nn.Module], torch.Tensor]  # f(model) -> scalar tensor added to the cross-entropy


# ----------------------------------------------------------------------------------------------------
# determinism and devices
# ----------------------------------------------------------------------------------------------------
def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    # warn_only: a few GPU kernels have no deterministic version; CPU runs are deterministic regardless.
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False


def resolve_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _mix(*parts: int) -> int:
    """A 63-bit seed from several integers (stable across runs, unlike hash())."""
    h = 1469598103934665603
    for p in parts:
        h = ((h ^ (p & 0xFFFFFFFFFFFF)) * 1099511628211) % (1 << 63)
    return h


# ----------------------------------------------------------------------------------------------------
# batches
# ----------------------------------------------------------------------------------------------------
def crop_flip(x: torch.Tensor, gen: torch.Generator, pad: int, fill: torch.Tensor) -> torch.Tensor:
    """Batched random crop with zero-padding (in pixel space) and horizontal flip.

    ``x`` is already normalised, so the padding value is the normalised black pixel ``fill`` (C,),
    which matches torchvision's RandomCrop(padding) applied before Normalize.
    """
    b, c, h, w = x.shape
    padded = fill.view(1, c, 1, 1).expand(b, c, h + 2 * pad, w + 2 * pad).clone()
    padded[:, :, pad:pad + h, pad:pad + w] = x
    oy = torch.randint(0, 2 * pad + 1, (b,), generator=gen).to(x.device)
    ox = torch.randint(0, 2 * pad + 1, (b,), generator=gen).to(x.device)
    flip = (torch.rand(b, generator=gen) < 0.5).to(x.device)
    rows = oy[:, None] + torch.arange(h, device=x.device)
    cols = ox[:, None] + torch.arange(w, device=x.device)
    cols = torch.where(flip[:, None], cols.flip(1), cols)
    bidx = torch.arange(b, device=x.device)[:, None, None]
    out = padded.permute(0, 2, 3, 1)[bidx, rows[:, :, None], cols[:, None, :]]  # (b, h, w, c)
    return out.permute(0, 3, 1, 2).contiguous()


class InMemoryBatches:
    """Batches of a ``TensorImageDataset``, normalised once and kept on the training device."""

    def __init__(self, ds: TensorImageDataset, device: torch.device):
        self.x = normalize(ds.images.to(device), ds.info)
        self.y = ds.labels.to(device)
        self.fill = (-torch.tensor(ds.info.mean) / torch.tensor(ds.info.std)).to(device)
        self.n = len(ds)

    def train_epoch(self, batch_size: int, seed: int, epoch: int, start_step: int,
                    augmentation: str) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        perm = torch.randperm(self.n, generator=torch.Generator().manual_seed(_mix(seed, epoch))).to(self.x.device)
        steps = math.ceil(self.n / batch_size)
        for step in range(start_step, steps):
            idx = perm[step * batch_size:(step + 1) * batch_size]
            x = self.x[idx]
            if augmentation == "crop_flip":
                x = crop_flip(x, torch.Generator().manual_seed(_mix(seed, epoch, step)), 4, self.fill)
            yield x, self.y[idx]

    def eval_batches(self, batch_size: int):
        for i in range(0, self.n, batch_size):
            yield self.x[i:i + batch_size], self.y[i:i + batch_size]

    def steps(self, batch_size: int) -> int:
        return math.ceil(self.n / batch_size)


class _OffsetSampler(torch.utils.data.Sampler):
    def __init__(self, perm: list[int]):
        self.perm = perm

    def __iter__(self):
        return iter(self.perm)

    def __len__(self) -> int:
        return len(self.perm)


class FileBatches:
    """Batches of a file-backed dataset through a DataLoader (transforms happen per sample in workers)."""

    def __init__(self, ds: Dataset, device: torch.device, num_workers: int):
        self.ds, self.device, self.num_workers, self.n = ds, device, num_workers, len(ds)

    def _loader(self, indices, batch_size, seed):
        return DataLoader(self.ds, batch_size=batch_size, sampler=_OffsetSampler(indices),
                          num_workers=self.num_workers, pin_memory=self.device.type == "cuda",
                          generator=torch.Generator().manual_seed(seed), persistent_workers=False)

    def train_epoch(self, batch_size, seed, epoch, start_step, augmentation):
        perm = torch.randperm(self.n, generator=torch.Generator().manual_seed(_mix(seed, epoch))).tolist()
        for x, y in self._loader(perm[start_step * batch_size:], batch_size, _mix(seed, epoch, start_step)):
            yield x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)

    def eval_batches(self, batch_size: int):
        for x, y in self._loader(list(range(self.n)), batch_size, 0):
            yield x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)

    def steps(self, batch_size: int) -> int:
        return math.ceil(self.n / batch_size)


def batches_for(ds: Dataset, device: torch.device, num_workers: int = 0):
    if isinstance(ds, TensorImageDataset):
        return InMemoryBatches(ds, device)
    return FileBatches(ds, device, num_workers)


# ----------------------------------------------------------------------------------------------------
# optimisation
# ----------------------------------------------------------------------------------------------------
def build_optimizer(params, protocol: dict) -> torch.optim.Optimizer:
    wd = protocol.get("weight_decay", 0.0)
    if protocol["optimizer"] == "sgd":
        return torch.optim.SGD(params, lr=protocol["lr"], momentum=protocol.get("momentum", 0.0),
                               nesterov=protocol.get("nesterov", False), weight_decay=wd)
    if protocol["optimizer"] == "adam":
        return torch.optim.Adam(params, lr=protocol["lr"], weight_decay=wd)
    raise ValueError(f"protocol optimizer must be 'sgd' or 'adam', got {protocol['optimizer']!r}")


def build_scheduler(opt: torch.optim.Optimizer, protocol: dict):
    sched = protocol.get("schedule", {"type": "none"})
    kind = sched["type"]
    if kind == "step":
        return torch.optim.lr_scheduler.StepLR(opt, step_size=sched["step_size"], gamma=sched.get("gamma", 0.1))
    if kind == "multistep":
        return torch.optim.lr_scheduler.MultiStepLR(opt, milestones=sched["milestones"], gamma=sched.get("gamma", 0.1))
    if kind == "none":
        return torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)
    raise ValueError(f"protocol schedule.type must be none, step or multistep, got {kind!r}")


# ----------------------------------------------------------------------------------------------------
# evaluation
# ----------------------------------------------------------------------------------------------------
@torch.no_grad()
def predict(model: nn.Module, batches, batch_size: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits and labels of a whole split (on CPU)."""
    was_training = model.training
    model.eval()
    logits, labels = [], []
    for x, y in batches.eval_batches(batch_size):
        logits.append(model(x).float().cpu())
        labels.append(y.cpu())
    model.train(was_training)
    if not logits:  # an empty split (a benchmark without validation split)
        return torch.zeros(0, 0), torch.zeros(0, dtype=torch.long)
    return torch.cat(logits), torch.cat(labels)


def classification_metrics(logits: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    """Loss, accuracy and error of a split; NaN for an empty split (a benchmark trained on the whole
    official training set has no validation split)."""
    if labels.numel() == 0:
        return {"loss": math.nan, "accuracy": math.nan, "error": math.nan, "n": 0}
    loss = F.cross_entropy(logits, labels).item()
    acc = (logits.argmax(1) == labels).double().mean().item()
    return {"loss": loss, "accuracy": acc, "error": 1.0 - acc, "n": int(labels.numel())}


def evaluate(model: nn.Module, batches, batch_size: int = 1000) -> dict[str, float]:
    return classification_metrics(*predict(model, batches, batch_size))


# ----------------------------------------------------------------------------------------------------
# the loop
# ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StepContext:
    """What ``Callback.on_step_end`` sees, right after the optimiser step of one batch.

    ``step`` is the 0-based index of that batch within the epoch (the ``s`` of the augmentation seed),
    ``global_step`` its 0-based index over the whole run, ``(epoch - 1) * steps_per_epoch + step``.
    ``loss`` is the detached total loss of the batch (cross-entropy plus extra terms) as a device tensor:
    reading it with ``.item()`` costs a host sync, so do that only when needed. ``logits`` is the detached
    output of the model on ``x``; ``lr`` the learning rate of this epoch (first parameter group).
    """

    model: nn.Module
    epoch: int  # 1-based
    step: int
    global_step: int
    steps_per_epoch: int
    x: torch.Tensor
    y: torch.Tensor
    logits: torch.Tensor
    loss: torch.Tensor
    lr: float


@dataclass(frozen=True)
class EpochContext:
    """What ``Callback.on_epoch_end`` sees, after the epoch's validation and selection: ``row`` is the
    history row just appended (read it, do not change it), ``val`` the validation metrics of the epoch's
    weights, ``best_epoch`` the selected epoch so far (0 = the initial weights)."""

    model: nn.Module
    epoch: int  # 1-based
    row: dict[str, Any]
    val: dict[str, float]
    best_epoch: int


class Callback:
    """A hook into ``train``; subclass it and override what you need (every method is a no-op here).

    Callbacks run in the order given, in the training process, with the model in train mode and autograd
    on: wrap reads in ``torch.no_grad()``, and restore the model's mode if you change it. Whatever a
    callback does is part of the run (it may even change the model), and stays exactly resumable as long
    as everything it depends on is in its ``state_dict``: the trainer saves the global RNG *after* the
    callbacks of a save point ran, so callbacks that draw random numbers resume exactly too.

    ``state_dict()`` returns what must survive a kill (picklable; tensors are fine and come back on CPU);
    ``load_state_dict`` gets that back, on a fresh object, before ``on_train_begin`` when a run resumes.
    ``on_train_begin`` runs at the start of every call to ``train`` (after the restore, after the
    validation of the initial weights, before the first step), so on a fresh run and again on each resume:
    it must not change the model or draw from the global RNG, or the resumed run would differ.
    """

    def on_train_begin(self, model: nn.Module) -> None:
        pass

    def on_step_end(self, ctx: StepContext) -> None:
        pass

    def on_epoch_end(self, ctx: EpochContext) -> None:
        pass

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


def _callback_states(callbacks: Sequence[Callback]) -> list[tuple[str, dict]]:
    return [(type(cb).__qualname__, cb.state_dict()) for cb in callbacks]


def _load_callback_states(callbacks: Sequence[Callback], saved: list[tuple[str, dict]], path) -> None:
    names = [type(cb).__qualname__ for cb in callbacks]
    saved_names = [name for name, _ in saved]
    if names != saved_names:
        raise ValueError(f"{path}: the interrupted run had callbacks {saved_names}, this call passes {names}; "
                         "resume with the same callbacks (in the same order) or delete the state file")
    for cb, (_, state) in zip(callbacks, saved):
        cb.load_state_dict(state)


@dataclass
class TrainResult:
    selected_epoch: int  # 0 = the initial weights (no epoch improved on them, or epochs == 0)
    val: dict[str, float]
    history: list[dict[str, Any]] = field(default_factory=list)
    train_seconds: float = 0.0
    resumed_from: Optional[dict] = None
    initial_eval_seconds: float = 0.0  # validation of the starting weights (0 when resumed past it)


def _rng_state() -> dict:
    return {"torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
            "numpy": np.random.get_state(), "python": random.getstate()}


def _set_rng_state(s: dict) -> None:
    torch.set_rng_state(s["torch"])
    if s.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(s["cuda"])
    np.random.set_state(s["numpy"])
    random.setstate(s["python"])


def _cpu_state(model: nn.Module) -> dict:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def train(model: nn.Module, splits: Splits, protocol: dict, *, seed: int, device: torch.device,
          state_path: Optional[Path] = None, extra_loss: Optional[ExtraLoss] = None,
          checkpoint_every_steps: int = 0, num_workers: int = 0, progress: Optional[bool] = None,
          stop_after_steps: Optional[int] = None, callbacks: Sequence[Callback] = (),
          extra_losses: Sequence[ExtraLoss] = (), checkpoint_every_epochs: int = 1) -> TrainResult:
    """Train ``model`` in place under ``protocol``; on return it holds the selected weights.

    Each term of ``extra_losses`` (``f(model) -> scalar tensor``, e.g. a KL term of a variational layer)
    is added to the cross-entropy, after ``extra_loss`` (the same, for one term). ``callbacks`` are called
    in order after each optimiser step and after each epoch's validation (see ``Callback``). Resume stays
    exact with callbacks: their ``state_dict()``s go into the state file at every save point (each epoch,
    and every ``checkpoint_every_steps`` steps), taken after the callbacks of that step or epoch ran and
    together with the RNG state, and are loaded back into the callbacks passed to the resuming call (they
    must be the same kinds, in the same order). Without callbacks the loop costs what it did.
    ``stop_after_steps`` simulates a kill after that many optimisation steps in this call (tests).
    ``checkpoint_every_epochs``: the state file is written after every k-th epoch and the last (long runs
    of tiny epochs, e.g. ibcnn's 10,000); a resumed run repeats the epochs since, with the same result.
    """
    if isinstance(checkpoint_every_epochs, bool) or not isinstance(checkpoint_every_epochs, int) \
            or checkpoint_every_epochs < 1:
        raise ValueError(f"checkpoint_every_epochs: expected a positive int, got {checkpoint_every_epochs!r}")
    if isinstance(callbacks, Callback):
        callbacks = (callbacks,)
    callbacks = tuple(callbacks)
    if callable(extra_losses):
        extra_losses = (extra_losses,)
    loss_terms = ((extra_loss,) if extra_loss is not None else ()) + tuple(extra_losses)
    selection = protocol.get("selection", "best_val")
    if len(splits.val) == 0 and selection != "last":
        raise ValueError(f"protocol {protocol.get('name', '')!r}: selection {selection!r} needs a validation split, "
                         f"but this benchmark has none (val_size 0); use selection: last")
    aug = protocol.get("augmentation", "none")
    bs = protocol["batch_size"]
    eval_bs = protocol.get("eval_batch_size", max(bs, 500))
    model.to(device)
    train_b = batches_for(splits.train, device, num_workers)
    val_b = batches_for(splits.val, device, num_workers)
    opt = build_optimizer(model.parameters(), protocol)
    sched = build_scheduler(opt, protocol)
    epochs = protocol["epochs"]
    steps_per_epoch = train_b.steps(bs)

    start_epoch, start_step, history, train_seconds = 1, 0, [], 0.0
    best = {"epoch": 0, "val": None, "state": None}
    resumed_from = None
    if state_path is not None and Path(state_path).exists():
        st = torch.load(state_path, map_location="cpu", weights_only=False)
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["optimizer"])
        sched.load_state_dict(st["scheduler"])
        start_epoch, start_step = st["epoch"], st["step"]
        history, train_seconds, best = st["history"], st["train_seconds"], st["best"]
        if st["partial"] is not None:
            epoch_loss_sum, epoch_correct, epoch_seen = st["partial"]
        _set_rng_state(st["rng"])
        _load_callback_states(callbacks, st.get("callbacks", []), state_path)
        resumed_from = {"epoch": start_epoch, "step": start_step}
        log.info("resumed from %s at epoch %d step %d", state_path, start_epoch, start_step)
    initial_eval_seconds = 0.0
    if best["val"] is None:  # the initial weights are the first candidate (and the only one if epochs == 0)
        t_init = time.perf_counter()
        best = {"epoch": 0, "val": evaluate(model, val_b, eval_bs), "state": _cpu_state(model)}
        initial_eval_seconds = time.perf_counter() - t_init

    def save_state(epoch: int, step: int, partial) -> None:
        if state_path is None:
            return
        fileio.torch_save({"model": model.state_dict(), "optimizer": opt.state_dict(),
                      "scheduler": sched.state_dict(), "epoch": epoch, "step": step, "history": history,
                      "train_seconds": train_seconds, "best": best, "partial": partial,
                      "rng": _rng_state(), "callbacks": _callback_states(callbacks)}, Path(state_path))

    for cb in callbacks:
        cb.on_train_begin(model)

    steps_done = 0
    show = progress if progress is not None else None  # None: tqdm shows bars only on a terminal
    for epoch in range(start_epoch, epochs + 1):
        model.train()
        if start_step == 0:
            epoch_loss_sum = torch.zeros((), device=device)
            epoch_correct = torch.zeros((), device=device, dtype=torch.long)
            epoch_seen = 0
        lr = opt.param_groups[0]["lr"]
        t0 = time.perf_counter()
        bar = tqdm(train_b.train_epoch(bs, seed, epoch, start_step, aug), total=steps_per_epoch,
                   initial=start_step, desc=f"epoch {epoch}/{epochs}", leave=False, mininterval=1.0,
                   disable=None if show is None else not show)
        step = start_step
        for x, y in bar:
            out = model(x)
            loss = F.cross_entropy(out, y)
            for term in loss_terms:
                loss = loss + term(model)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            with torch.no_grad():  # accumulate on device: no host sync per step
                epoch_loss_sum += loss.detach() * y.shape[0]
                epoch_correct += (out.argmax(1) == y).sum()
            epoch_seen += y.shape[0]
            if callbacks:  # before the save below, which must hold the callbacks' state after this step
                ctx = StepContext(model=model, epoch=epoch, step=step,
                                  global_step=(epoch - 1) * steps_per_epoch + step,
                                  steps_per_epoch=steps_per_epoch, x=x, y=y, logits=out.detach(),
                                  loss=loss.detach(), lr=lr)
                for cb in callbacks:
                    cb.on_step_end(ctx)
            step += 1
            steps_done += 1
            if checkpoint_every_steps and step % checkpoint_every_steps == 0 and step < steps_per_epoch:
                train_seconds += time.perf_counter() - t0
                t0 = time.perf_counter()
                save_state(epoch, step, (epoch_loss_sum, epoch_correct, epoch_seen))
            if stop_after_steps is not None and steps_done >= stop_after_steps:
                bar.close()
                raise KeyboardInterrupt(f"stopped after {steps_done} steps (simulated interruption)")
        bar.close()
        start_step = 0
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        epoch_seconds = time.perf_counter() - t0
        train_seconds += epoch_seconds
        sched.step()
        t1 = time.perf_counter()
        val = evaluate(model, val_b, eval_bs)
        row = {"epoch": epoch, "lr": lr, "train_loss": (epoch_loss_sum / max(epoch_seen, 1)).item(),
               "train_accuracy": epoch_correct.item() / max(epoch_seen, 1), "val_loss": val["loss"],
               "val_accuracy": val["accuracy"], "epoch_seconds": epoch_seconds,
               "eval_seconds": time.perf_counter() - t1}
        history.append(row)
        if selection == "last" or val["accuracy"] > best["val"]["accuracy"]:
            best = {"epoch": epoch, "val": val, "state": _cpu_state(model)}
        log.info("epoch %d/%d lr %.3g train_loss %.4f train_acc %.4f val_loss %.4f val_acc %.4f "
                 "(%.1f s train, %.1f s val)%s", epoch, epochs, lr, row["train_loss"], row["train_accuracy"],
                 row["val_loss"], row["val_accuracy"], epoch_seconds, row["eval_seconds"],
                 "  *selected*" if best["epoch"] == epoch else "")
        if callbacks:
            ectx = EpochContext(model=model, epoch=epoch, row=row, val=val, best_epoch=best["epoch"])
            for cb in callbacks:
                cb.on_epoch_end(ectx)
        if epoch % checkpoint_every_epochs == 0 or epoch == epochs:
            save_state(epoch + 1, 0, None)

    model.load_state_dict(best["state"])
    return TrainResult(selected_epoch=best["epoch"], val=best["val"], history=history,
                       train_seconds=train_seconds, resumed_from=resumed_from,
                       initial_eval_seconds=initial_eval_seconds)
