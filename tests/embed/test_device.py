"""``device = auto | cpu | cuda`` (issue 26): the GPU when there is one, and nothing
broken on a machine without (this one)."""

from __future__ import annotations

import pytest

import ragcli.embed.device as device
from ragcli.config import Settings
from ragcli.embed.device import (
    CPU_PROVIDER,
    CUDA_PROVIDER,
    check_device,
    describe,
    onnx_providers,
    torch_device,
)
from ragcli.errors import RagError, UsageError

BOTH = [CUDA_PROVIDER, CPU_PROVIDER]


@pytest.fixture
def nvidia_driver(tmp_path, monkeypatch):
    marker = tmp_path / "version"
    marker.write_text("NVRM version: 550.54\n")
    monkeypatch.setattr(device, "_NVIDIA_MARKERS", (str(marker),))


@pytest.fixture
def no_nvidia_driver(tmp_path, monkeypatch):
    monkeypatch.setattr(device, "_NVIDIA_MARKERS", (str(tmp_path / "absent"),))


def test_auto_takes_the_cuda_provider_for_float_models_when_there_is_a_gpu(nvidia_driver):
    assert onnx_providers("auto", "float", available=BOTH) == BOTH
    assert onnx_providers("auto", "float", available=[CPU_PROVIDER]) == [CPU_PROVIDER]
    assert onnx_providers("auto", "int8-fused", available=BOTH) == [CPU_PROVIDER]
    assert onnx_providers("cpu", "float", available=BOTH) == [CPU_PROVIDER]
    assert onnx_providers("cuda", "int8", available=BOTH) == BOTH
    assert describe("auto")["setting"] == "auto"


def test_without_a_gpu_auto_is_the_cpu_and_cuda_is_one_clear_error(no_nvidia_driver):
    assert onnx_providers("auto", "float", available=BOTH) == [CPU_PROVIDER]
    assert torch_device("auto") == "cpu"
    with pytest.raises(RagError, match="install onnxruntime-gpu"):
        onnx_providers("cuda", "float", available=[CPU_PROVIDER])
    assert describe("auto") == {
        "setting": "auto",
        "torch": "cpu (no GPU found)",
        "onnx": "cpu (no GPU found)",
    }
    assert describe("cpu")["onnx"] == "cpu (set to cpu)"
    with pytest.raises(UsageError, match="unknown device 'gpu'"):
        check_device("gpu")


def test_this_machine_has_no_cuda_so_asking_for_it_fails_in_one_line():
    import onnxruntime
    import torch

    if torch.cuda.is_available() or CUDA_PROVIDER in onnxruntime.get_available_providers():
        pytest.skip("this test is about a CPU-only machine")
    with pytest.raises(RagError) as caught:
        torch_device("cuda")
    assert "\n" not in str(caught.value) and "CUDA" in str(caught.value)
    with pytest.raises(RagError, match="no CUDA provider"):
        onnx_providers("cuda")


@pytest.mark.slow
def test_status_shows_the_device_and_an_unknown_one_is_refused(tmp_path, monkeypatch):
    import shutil
    from pathlib import Path

    from helpers_ingest import clean_env, run_rag, subprocess_env

    from ragcli.index import Index

    clean_env(monkeypatch, tmp_path)
    root = tmp_path / "p"
    (root / "docs").mkdir(parents=True)
    examples = Path(__file__).resolve().parents[2] / "examples" / "docs"
    shutil.copy(examples / "black_death.md", root / "docs")
    Index(root / ".rag" / "default", settings=Settings(device="cpu")).ingest([root / "docs"])
    env = subprocess_env(tmp_path)
    status = run_rag(["status"], root, env)
    assert status.returncode == 0, status.stderr
    line = next(x for x in status.stdout.splitlines() if x.startswith("embedding"))
    assert "device cpu" in line
    refused = run_rag(["ingest", "docs", "--device", "gpu"], root, env)
    assert refused.returncode != 0
    assert refused.stderr == "rag: error: unknown device 'gpu': choose one of auto, cpu, cuda\n"
