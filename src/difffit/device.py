"""Device selection: one place that turns "auto" | "cpu" | "cuda[:n]" into a device name.

The CPU path needs no PyTorch: when no GPU driver is present, ``"auto"`` resolves to ``"cpu"``
without importing torch (which costs about a second per process). Only a CUDA device, or a
machine with a GPU driver, imports torch to decide.
"""

from __future__ import annotations

import os

from difffit.errors import ConfigError

__all__ = ["gpu_driver_present", "resolve_device"]

_DRIVER_FILES = ("/proc/driver/nvidia/version", "/dev/nvidiactl", "/dev/nvidia0", "/dev/kfd")


def gpu_driver_present() -> bool:
    """True when an NVIDIA (or ROCm) kernel driver is visible, so CUDA might be usable."""
    return any(os.path.exists(p) for p in _DRIVER_FILES)


def resolve_device(device: object = "auto") -> str:
    """The device to compute on: ``"cpu"`` or ``"cuda:N"``.

    ``"auto"`` (or None) picks the first CUDA device when PyTorch sees one, else the CPU.
    Asking for CUDA on a machine without it is an error, not a silent fallback. A
    ``torch.device`` is accepted too.
    """
    name = "auto" if device is None else str(device).strip().lower()
    if name == "auto":
        if not gpu_driver_present():
            return "cpu"
        import torch

        return "cuda:0" if torch.cuda.is_available() else "cpu"
    if name == "cpu":
        return "cpu"
    if name == "cuda" or name.startswith("cuda:"):
        idx_text = name.partition(":")[2] or "0"
        if not idx_text.isdigit():
            raise ConfigError(f"device {device!r} is not 'auto', 'cpu' or 'cuda[:N]'")
        idx = int(idx_text)
        import torch

        if not torch.cuda.is_available():
            raise ConfigError(
                f"device {device!r} asked for, but CUDA is not available here; use --device cpu"
            )
        if idx >= torch.cuda.device_count():
            raise ConfigError(f"device {device!r}: only {torch.cuda.device_count()} CUDA device(s)")
        return f"cuda:{idx}"
    raise ConfigError(f"device {device!r} is not 'auto', 'cpu' or 'cuda[:N]'")
