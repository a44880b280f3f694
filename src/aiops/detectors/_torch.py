"""PyTorch plumbing shared by the LSTM detectors: a scoped deterministic runtime
and a mini-batch training loop with early stopping."""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn

logger = logging.getLogger(__name__)

# One intra-op thread: networks this small gain nothing from more, and on a
# busy two-core machine two OpenMP threads spin-wait on each other, which made
# a fit more than ten times slower in measurement. It also keeps results
# independent of the machine's core count.
MAX_TORCH_THREADS = 1


@contextmanager
def torch_runtime(seed: int | None = None) -> Iterator[None]:
    """Deterministic algorithms, one thread and, when ``seed`` is given,
    a forked global RNG seeded with it; everything is restored on exit so the
    caller's torch settings are left as they were."""
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    threads = torch.get_num_threads()
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(min(threads, MAX_TORCH_THREADS))
    try:
        with torch.random.fork_rng(devices=[]):
            if seed is not None:
                torch.manual_seed(seed)
            yield
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(was_deterministic)


def train_with_early_stopping(
    network: nn.Module,
    make_batches: Callable[[np.random.Generator], Iterator[tuple[np.ndarray, ...]]],
    batch_loss: Callable[..., torch.Tensor],
    validation_loss: Callable[[], float],
    *,
    epochs: int,
    patience: int,
    learning_rate: float,
    rng: np.random.Generator,
) -> tuple[list[float], list[float], int]:
    """Train with Adam; keep the weights of the epoch with the lowest validation
    loss and stop after ``patience`` epochs without improvement.

    Returns the mean training loss and the validation loss per epoch, and the
    (0-based) best epoch. The network holds the best weights on return.
    """
    optimiser = torch.optim.Adam(network.parameters(), lr=learning_rate)
    train_losses: list[float] = []
    validation_losses: list[float] = []
    best_loss = float("inf")
    best_epoch = 0
    best_state = copy.deepcopy(network.state_dict())

    for epoch in range(epochs):
        network.train()
        total, count = 0.0, 0
        for arrays in make_batches(rng):
            tensors = [torch.from_numpy(array) for array in arrays]
            optimiser.zero_grad()
            loss = batch_loss(*tensors)
            loss.backward()
            optimiser.step()
            total += float(loss.detach()) * tensors[0].shape[0]
            count += tensors[0].shape[0]
        train_losses.append(total / max(count, 1))

        network.eval()
        with torch.no_grad():
            current = validation_loss()
        validation_losses.append(current)
        logger.debug(
            "epoch %d: train %.5f, validation %.5f", epoch, train_losses[-1], current
        )
        if current < best_loss:
            best_loss, best_epoch = current, epoch
            best_state = copy.deepcopy(network.state_dict())
        elif epoch - best_epoch >= patience:
            break

    network.load_state_dict(best_state)
    network.eval()
    return train_losses, validation_losses, best_epoch


def window_starts(
    rng: np.random.Generator, n_rows: int, length: int, count: int
) -> np.ndarray:
    """``count`` random start indices of windows of ``length`` rows in ``n_rows``."""
    return rng.integers(0, n_rows - length + 1, size=count)


def gather_windows(values: np.ndarray, starts: np.ndarray, length: int) -> np.ndarray:
    """Stack ``values[s : s + length]`` per start: ``(len(starts), length, F)``."""
    return values[starts[:, None] + np.arange(length)[None, :]]
