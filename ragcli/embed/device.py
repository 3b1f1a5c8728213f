"""Where the local encoders run: the ``device`` setting, ``auto`` | ``cpu`` | ``cuda``.

``auto`` takes the GPU when there is one and the installed libraries can use it: torch
when ``torch.cuda.is_available()``, ONNX Runtime when it has the CUDA execution provider
(the ``onnxruntime-gpu`` package). The int8 models stay on the CPU under ``auto``: their
dynamically quantised operators mostly have no CUDA kernels, so ONNX Runtime would copy
activations between the GPU and the CPU at every layer. ``cuda`` asks for the GPU and is
an error when it cannot be had; ``cpu`` never looks. Nothing here imports torch or
onnxruntime until a model is loaded.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from collections.abc import Sequence
from pathlib import Path

from ragcli.errors import RagError, UsageError

DEVICES = ("auto", "cpu", "cuda")
CPU_PROVIDER = "CPUExecutionProvider"
CUDA_PROVIDER = "CUDAExecutionProvider"
_NVIDIA_MARKERS = ("/proc/driver/nvidia/version", "/dev/nvidia0")


def check_device(setting: str) -> str:
    if setting not in DEVICES:
        raise UsageError(f"unknown device {setting!r}: choose one of {', '.join(DEVICES)}")
    return setting


def gpu_present() -> bool:
    """Whether an NVIDIA driver is loaded (two ``stat`` calls; no library imported)."""
    return any(Path(marker).exists() for marker in _NVIDIA_MARKERS)


def torch_device(setting: str) -> str:
    """The torch device for ``setting``: ``cuda`` or ``cpu`` (imports torch only for
    ``auto`` on a machine with a GPU, and for ``cuda``)."""
    check_device(setting)
    if setting == "cpu" or (setting == "auto" and not gpu_present()):
        return "cpu"
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if setting == "cuda":
        raise RagError("device = cuda, but torch sees no CUDA device (a CPU-only torch?)")
    return "cpu"


def onnx_providers(
    setting: str, variant: str = "float", available: Sequence[str] | None = None
) -> list[str]:
    """ONNX Runtime's execution providers for ``setting`` and the model ``variant``."""
    check_device(setting)
    if setting == "cpu" or (setting == "auto" and (variant != "float" or not gpu_present())):
        return [CPU_PROVIDER]
    if available is None:
        import onnxruntime

        available = onnxruntime.get_available_providers()
    if CUDA_PROVIDER in available:
        return [CUDA_PROVIDER, CPU_PROVIDER]
    if setting == "cuda":
        raise RagError(
            "device = cuda, but ONNX Runtime has no CUDA provider: install onnxruntime-gpu "
            "in place of onnxruntime, or use --embed-backend torch"
        )
    return [CPU_PROVIDER]


def describe(setting: str) -> dict[str, str]:
    """What ``rag status`` shows: the setting and where each local path would run, from
    the driver and the installed packages (nothing imported)."""
    check_device(setting)
    gpu = setting != "cpu" and (setting == "cuda" or gpu_present())
    onnx_gpu = gpu and _installed("onnxruntime-gpu")
    torch_gpu = gpu and importlib.util.find_spec("torch") is not None
    reason = "" if gpu else (" (set to cpu)" if setting == "cpu" else " (no GPU found)")
    return {
        "setting": setting,
        "torch": ("cuda" if torch_gpu else "cpu") + reason,
        "onnx": ("cuda" if onnx_gpu else "cpu") + reason,
    }


def _installed(distribution: str) -> bool:
    try:
        importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True
