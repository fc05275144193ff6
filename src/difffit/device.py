"""Device selection: one place that turns "auto" | "cpu" | "cuda[:n]" into a torch.device."""

from __future__ import annotations

import torch

from difffit.errors import ConfigError

__all__ = ["resolve_device"]


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """The torch device to compute on.

    ``"auto"`` (or None) picks the first CUDA device when one is available, else the CPU.
    Asking for CUDA on a machine without it is an error, not a silent fallback.
    """
    if isinstance(device, torch.device):
        dev = device
    else:
        name = (device or "auto").strip().lower()
        if name == "auto":
            return torch.device("cuda:0") if torch.cuda.is_available() else torch.device("cpu")
        try:
            dev = torch.device(name)
        except RuntimeError:
            raise ConfigError(f"device {device!r} is not 'auto', 'cpu' or 'cuda[:N]'") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(
                f"device {device!r} asked for, but CUDA is not available here; use --device cpu"
            )
        idx = dev.index or 0
        if idx >= torch.cuda.device_count():
            raise ConfigError(f"device {device!r}: only {torch.cuda.device_count()} CUDA device(s)")
        return torch.device("cuda", idx)
    if dev.type != "cpu":
        raise ConfigError(f"device {device!r} is not supported (use 'cpu' or 'cuda')")
    return dev
