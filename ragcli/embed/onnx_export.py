"""Exporting the embedding model to ONNX, for :class:`ragcli.embed.onnx.OnnxEncoder`.

``export_onnx`` imports torch and sentence-transformers and uses ``torch.onnx.export``
(the dynamo exporter, the TorchScript one as a fallback): the ``optimum`` route
sentence-transformers offers needs ``transformers<4.58`` and so cannot be installed
next to sentence-transformers 5+. After exporting, the ONNX pipeline is checked against
sentence-transformers on probe texts (one longer than the model reads) and the export is
dropped unless every cosine is at least ``MIN_COSINE``. ``quantize_export`` adds the
int8 model; ``ensure_export`` makes whichever is missing and never raises over it.

The folder layout is described in :mod:`ragcli.embed.onnx`. Importing this module
imports neither torch nor transformers nor sentence-transformers.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ragcli.embed.onnx import (
    FORMAT_VERSION,
    META_FILE,
    MODEL_FILES,
    POOLING_MODES,
    TOKENIZER_FILE,
    OnnxEncoder,
    OnnxExportError,
    is_exported,
    pooling_mode,
    read_meta,
    source_fingerprint,
)
from ragcli.embed.sentence_transformer import embedding_dimension
from ragcli.errors import RagError
from ragcli.weights import canonical_name

logger = logging.getLogger(__name__)

FAILED_FILE = "ragcli-onnx-failed.json"
# Least cosine between ONNX and sentence-transformers embeddings accepted at export.
MIN_COSINE = {"float": 0.999, "int8": 0.95, "int8-fused": 0.95}
QUANTIZED = ("int8", "int8-fused")
OPSET = 18

_PROBE_TEXTS = (
    "what causes vitamin d deficiency?",
    "Le chat est assis sur le tapis. 猫がマットの上に座っている。",
    "x",
    # Longer than 256 word pieces: checks truncation.
    " ".join(
        f"Sentence {i} reports that the measured effect of treatment {i % 7} on outcome "
        f"{i % 5} was significant (p < 0.0{i % 9 + 1})."
        for i in range(40)
    ),
)


def _failed_before(folder: Path, model_name: str, variant: str) -> str | None:
    """The reason a previous export of this model failed (so it is not retried), or None."""
    try:
        record = json.loads((folder / FAILED_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if (
        isinstance(record, dict)
        and record.get("format") == FORMAT_VERSION
        and record.get("variant") == variant
        and record.get("fingerprint") == source_fingerprint(model_name)
    ):
        return str(record.get("reason", "unknown"))
    return None


def _record_failure(folder: Path, model_name: str, variant: str, reason: str) -> None:
    """Note that this model's export failed, so that ``_failed_before`` finds it."""
    with contextlib.suppress(OSError):
        _write_json(
            folder / FAILED_FILE,
            {
                "format": FORMAT_VERSION,
                "variant": variant,
                "fingerprint": source_fingerprint(model_name),
                "reason": reason,
            },
        )


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = _tmp_name(path)
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _write_json(path: Path, value: dict) -> None:
    _write_atomic(path, (json.dumps(value, indent=2, ensure_ascii=False) + "\n").encode())


def _tmp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def export_available() -> bool:
    """Whether the packages an export needs are installed (checked without importing)."""
    import importlib.util

    return all(
        importlib.util.find_spec(name) is not None
        for name in ("onnxruntime", "onnx", "torch", "sentence_transformers")
    )


def export_onnx(
    model_name: str,
    folder: str | os.PathLike,
    *,
    quantize: bool | str = False,
    verify: bool = True,
) -> Path:
    """Export ``model_name`` to ONNX in ``folder`` (created if needed) and return it.

    Imports torch and sentence-transformers. Every file is written through a temporary
    name and ``os.replace``; the metadata file last. Raises OnnxExportError when the model's
    modules are not Transformer + Pooling (+ Normalize), or when the exported model
    does not reproduce sentence-transformers' embeddings.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / META_FILE).unlink(missing_ok=True)
    st = _load_model(model_name)
    transformer, pooling_config = _check_modules(st)

    tokenizer = _plain_tokenizer(st, model_name)
    _write_atomic(folder / TOKENIZER_FILE, tokenizer.to_str().encode())
    input_names = _input_names(st, model_name)
    model_path = folder / MODEL_FILES["float"]
    exporter = _export_transformer(transformer.auto_model, input_names, model_path)
    meta = {
        "format": FORMAT_VERSION,
        "model_name": canonical_name(model_name),
        "fingerprint": source_fingerprint(model_name),
        "max_seq_length": int(st.max_seq_length),
        "dimension": embedding_dimension(st),
        "pooling": pooling_config,
        "input_names": input_names,
        "pad_id": int(getattr(st.tokenizer, "pad_token_id", None) or 0),
        "exporter": exporter,
        "opset": OPSET,
        "files": {"float": {"file": model_path.name, "bytes": model_path.stat().st_size}},
    }
    if verify:
        meta["files"]["float"]["min_cosine"] = _verify(st, folder, meta, "float")
    _write_json(folder / META_FILE, meta)
    (folder / FAILED_FILE).unlink(missing_ok=True)
    if quantize:  # a failure here leaves the float export in place
        _quantize_into(st, folder, meta, verify, "int8" if quantize is True else quantize)
        _write_json(folder / META_FILE, meta)
    return folder


def quantize_export(
    model_name: str, folder: str | os.PathLike, verify: bool = True, variant: str = "int8"
) -> Path:
    """Add the ``variant`` int8 model to an existing float export (exports first if needed)."""
    folder = Path(folder)
    if not is_exported(folder, model_name, "float"):
        return export_onnx(model_name, folder, quantize=variant, verify=verify)
    meta = read_meta(folder)
    st = _load_model(model_name) if verify else None
    _quantize_into(st, folder, meta, verify, variant)
    _write_json(folder / META_FILE, meta)
    return folder


def _quantize_into(st, folder: Path, meta: dict, verify: bool, variant: str = "int8") -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    if variant not in QUANTIZED:
        raise ValueError(f"variant must be one of {QUANTIZED}")
    source = folder / meta["files"]["float"]["file"]
    target = folder / MODEL_FILES[variant]
    tmp = _tmp_name(target)
    fused = folder / f".fused-{os.getpid()}.onnx"
    try:
        with warnings.catch_warnings(), _quiet_logging():
            warnings.simplefilter("ignore")
            if variant == "int8-fused":
                _fuse(source, fused, st)
                source = fused
            # Per-channel int8 weights: per-tensor scales cost far more accuracy here
            # (cosine to float about 0.94 against 0.99 on SciFact abstracts).
            quantize_dynamic(source, tmp, weight_type=QuantType.QInt8, per_channel=True)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
        fused.unlink(missing_ok=True)
    meta["files"][variant] = {"file": target.name, "bytes": target.stat().st_size}
    if verify:
        meta["files"][variant]["min_cosine"] = _verify(st, folder, meta, variant)


def _fuse(source: Path, target: Path, st) -> None:
    """ONNX Runtime's BERT fusions (LayerNorm with the residual add, bias with GELU,
    attention where the export's pattern allows), written as a plain ONNX model that
    any CPU can run (no hardware-specific layouts are saved)."""
    from onnxruntime.transformers import optimizer

    config = getattr(getattr(st[0], "auto_model", None), "config", None) if st else None
    heads = int(getattr(config, "num_attention_heads", 0) or 0)
    hidden = int(getattr(config, "hidden_size", 0) or 0)
    model = optimizer.optimize_model(
        str(source), model_type="bert", num_heads=heads, hidden_size=hidden, opt_level=1
    )
    model.save_model_to_file(str(target))


def _load_model(model_name: str):
    from ragcli.weights import load_sentence_transformers

    return load_sentence_transformers("SentenceTransformer", model_name, "embedding model")


def _input_names(st, model_name: str) -> list[str]:
    """The model inputs the tokenizer makes; ``input_ids`` and ``attention_mask`` first."""
    input_names = [
        name
        for name in ("input_ids", "attention_mask", "token_type_ids")
        if name in getattr(st.tokenizer, "model_input_names", ["input_ids", "attention_mask"])
    ]
    if input_names[:2] != ["input_ids", "attention_mask"]:
        raise OnnxExportError(f"cannot export {model_name!r}: tokenizer inputs {input_names}")
    return input_names


def _check_modules(st):
    """The Transformer module and the Pooling config, or RagError for other pipelines."""
    modules = list(st)
    kinds = [type(m).__name__ for m in modules]
    extra = kinds[2:]
    if (
        len(modules) < 2
        or not hasattr(modules[0], "auto_model")
        or kinds[1] != "Pooling"
        or any(kind != "Normalize" for kind in extra)
    ):
        raise OnnxExportError(f"cannot export a {' + '.join(kinds)} model to ONNX")
    pooling = modules[1]
    config = pooling.get_config_dict()
    mode = pooling_mode(config)
    if mode not in POOLING_MODES:
        raise OnnxExportError(f"cannot export a model with {mode!r} pooling to ONNX")
    if config.get("include_prompt") is False:
        raise OnnxExportError("cannot export a model whose pooling leaves out the prompt")
    return modules[0], config


def _plain_tokenizer(st, model_name: str):
    """The tokenizers.Tokenizer sentence-transformers uses, with padding and truncation
    off (the runtime sets them); from the model folder's tokenizer.json if needed."""
    from tokenizers import Tokenizer

    backend = getattr(st.tokenizer, "backend_tokenizer", None)
    if backend is not None:
        tokenizer = Tokenizer.from_str(backend.to_str())
    else:
        from ragcli.weights import load_tokenizer

        tokenizer = load_tokenizer(model_name)
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return tokenizer


@contextlib.contextmanager
def _quiet_logging():
    """Silence the exporters' progress prints and info logs."""
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        logging.disable(previous)


def _export_transformer(model, input_names: list[str], path: Path) -> str:
    """Write the transformer (token embeddings out) to ``path``; return the exporter used."""
    import torch

    with contextlib.suppress(Exception):  # eager attention exports to plain ONNX ops
        model.set_attn_implementation("eager")
    wrapper = _token_embeddings(model).eval()
    args = _example_inputs(input_names)
    tmp = _tmp_name(path)
    errors = []
    try:
        for exporter in ("dynamo", "torchscript"):
            try:
                with torch.no_grad(), warnings.catch_warnings(), _quiet_logging():
                    warnings.simplefilter("ignore")
                    _torch_export(exporter, wrapper, args, input_names, tmp)
                os.replace(tmp, path)
                return exporter
            except Exception as err:  # noqa: BLE001  (try the other exporter)
                errors.append(f"{exporter}: {type(err).__name__}: {err}".splitlines()[0])
                logger.debug("ONNX export with %s failed", exporter, exc_info=True)
    finally:
        tmp.unlink(missing_ok=True)
    raise OnnxExportError("ONNX export failed (" + "; ".join(errors) + ")")


def _token_embeddings(model):
    """A torch module around the Hugging Face model that returns its token embeddings."""
    import torch

    class TokenEmbeddings(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids=None):
            kwargs = {"input_ids": input_ids, "attention_mask": attention_mask}
            if token_type_ids is not None:
                kwargs["token_type_ids"] = token_type_ids
            return self.inner(**kwargs, return_dict=True)[0]

    return TokenEmbeddings(model)


def _example_inputs(input_names: list[str]) -> tuple:
    """Inputs to trace with. Batch 2 and length 16: torch.export would fix axes traced
    with size 1."""
    import torch

    ids = torch.full((2, 16), 1000, dtype=torch.long)
    mask = torch.ones((2, 16), dtype=torch.long)
    mask[1, 10:] = 0
    example = {
        "input_ids": ids,
        "attention_mask": mask,
        "token_type_ids": torch.zeros((2, 16), dtype=torch.long),
    }
    return tuple(example[name] for name in input_names)


def _torch_export(exporter: str, wrapper, args: tuple, input_names: list[str], path: Path):
    """``torch.onnx.export`` with ``exporter`` (dynamo or torchscript), batch and sequence
    axes dynamic."""
    import torch

    if exporter == "dynamo":
        batch, seq = torch.export.Dim("batch"), torch.export.Dim("sequence")
        torch.onnx.export(
            wrapper,
            args,
            str(path),
            input_names=input_names,
            output_names=["token_embeddings"],
            opset_version=OPSET,
            dynamo=True,
            external_data=False,
            dynamic_shapes={name: {0: batch, 1: seq} for name in input_names},
        )
    else:
        axes = {0: "batch", 1: "sequence"}
        torch.onnx.export(
            wrapper,
            args,
            str(path),
            input_names=input_names,
            output_names=["token_embeddings"],
            opset_version=OPSET,
            dynamo=False,
            dynamic_axes={n: axes for n in [*input_names, "token_embeddings"]},
        )


def _verify(st, folder: Path, meta: dict, variant: str) -> float:
    """Least cosine between ONNX and sentence-transformers on the probe texts."""
    texts = list(_PROBE_TEXTS)
    expected = st.encode(  # prompt "": no default prompt, as the raw ONNX model
        texts, prompt="", normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
    )
    got = OnnxEncoder(folder, variant, _meta=meta).encode(texts)
    worst = float(np.min(np.sum(expected * got, axis=1)))
    if not worst >= MIN_COSINE[variant]:
        (folder / meta["files"][variant]["file"]).unlink(missing_ok=True)
        raise OnnxExportError(
            f"the {variant} ONNX export does not match sentence-transformers "
            f"(cosine {worst:.4f} < {MIN_COSINE[variant]})"
        )
    return round(worst, 6)


def ensure_export(
    model_name: str,
    cache_dir: str | os.PathLike,
    *,
    variant: str = "float",
    warn: Callable[[str], None] | None = None,
) -> bool:
    """Make the ``variant`` export of ``model_name`` in ``cache_dir`` unless it is there;
    True when it is usable. For ingest (or first use); never raises over the export.

    Returns False without trying when onnx/torch are not installed. An export that
    fails for another reason is recorded in ``cache_dir`` and not retried for the same
    model weights; ``warn`` gets the reason once. A model that cannot be loaded at all
    returns False silently: the sentence-transformers encoder reports that when used.
    """
    if variant not in MODEL_FILES:
        raise ValueError(f"variant must be one of {sorted(MODEL_FILES)}")
    folder = Path(cache_dir)
    if is_exported(folder, model_name, variant):
        return True
    if not export_available() or _failed_before(folder, model_name, variant) is not None:
        return False
    try:
        if variant in QUANTIZED and is_exported(folder, model_name, "float"):
            quantize_export(model_name, folder, variant=variant)
        else:
            export_onnx(model_name, folder, quantize=variant if variant in QUANTIZED else False)
        return is_exported(folder, model_name, variant)
    except OnnxExportError as err:
        _record_failure(folder, model_name, variant, str(err))
        (warn or logger.warning)(_failure_message(variant, str(err)))
    except RagError:
        pass
    except Exception as err:  # noqa: BLE001  (never fail a search or an ingest over the cache)
        (warn or logger.warning)(_failure_message(variant, f"{type(err).__name__}: {err}"))
    return False


def _failure_message(variant: str, reason: str) -> str:
    reason = reason.strip().splitlines()[0] if reason.strip() else "unknown error"
    return f"no ONNX {variant} query encoder ({reason}); using the fallback encoder"
