"""An ONNX Runtime encoder for the query path: no torch, no transformers at query time.

``import sentence_transformers`` costs seconds (torch alone more than a second); a
search only has to embed one short query. So the index's embedding model is exported
to ONNX once (at ingest, or on first use) into a cache folder, and queries are then
embedded with ``onnxruntime`` + ``tokenizers`` + ``numpy`` only.

The cache folder (the index passes ``<index>/cache/onnx/<model-slug>/``) holds:

- ``model.onnx``: the transformer, inputs ``input_ids``/``attention_mask`` (and
  ``token_type_ids`` when the tokenizer makes them), output the token embeddings, with
  dynamic batch and sequence axes;
- ``model-int8.onnx``: optionally, the same with int8 dynamic quantisation;
- ``tokenizer.json``: the tokenizer sentence-transformers used, padding and truncation off;
- ``ragcli-onnx.json``: written last, so its presence means the export is complete: the
  model name, a fingerprint of the source weights, ``max_seq_length``, the pooling
  config of the model's ``Pooling`` module and the file sizes.

Export (``export_onnx``) imports torch and sentence-transformers and uses
``torch.onnx.export`` (the dynamo exporter, the TorchScript one as a fallback): the
``optimum`` route sentence-transformers offers needs ``transformers<4.58`` and so cannot
be installed next to sentence-transformers 5+. After exporting, the ONNX pipeline is
checked against sentence-transformers on probe texts (one longer than the model reads)
and the export is dropped unless every cosine is at least ``MIN_COSINE``.

``query_encoder`` is the entry point for an index: the ONNX encoder when the export is
there or can be made now, else the sentence-transformers :class:`ragcli.embed.Encoder`.
Importing this module imports neither torch nor transformers nor sentence-transformers.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import re
import warnings
from collections.abc import Callable, Sequence
from functools import cached_property
from pathlib import Path

import numpy as np

from ragcli.errors import RagError
from ragcli.weights import canonical_name, resolve_model_path

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
META_FILE = "ragcli-onnx.json"
FAILED_FILE = "ragcli-onnx-failed.json"
TOKENIZER_FILE = "tokenizer.json"
MODEL_FILES = {"float": "model.onnx", "int8": "model-int8.onnx"}
# Least cosine between ONNX and sentence-transformers embeddings accepted at export.
MIN_COSINE = {"float": 0.999, "int8": 0.95}
OPSET = 18

_POOLING_MODES = ("mean", "cls", "max", "mean_sqrt_len_tokens")
_OLD_POOLING_KEYS = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len_tokens",
}
# Files whose sizes stand for a local model folder's identity.
_FINGERPRINT_GLOBS = (
    "config.json",
    "modules.json",
    "sentence_bert_config.json",
    "tokenizer.json",
    "*.safetensors",
    "pytorch_model.bin",
    "*_Pooling/config.json",
)
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


# --------------------------------------------------------------------------- naming
def model_slug(model_name: str) -> str:
    """A folder name for a model: ``sentence-transformers--all-MiniLM-L6-v2``.

    A local path is reduced to its last two parts plus a short hash of the whole path.
    """
    name = canonical_name(model_name)
    if Path(name).expanduser().is_dir():
        import hashlib

        full = str(Path(name).expanduser().resolve())
        tail = "--".join(Path(full).parts[-2:])
        name = f"{tail}-{hashlib.sha256(full.encode()).hexdigest()[:8]}"
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name.replace("/", "--")).strip("-.")
    return slug or "model"


def source_fingerprint(model_name: str) -> dict:
    """A cheap identity of the model's weights: names and sizes of its main files when
    the model is a local folder (stat calls only), else just its name."""
    resolved = resolve_model_path(model_name)
    folder = Path(resolved)
    if not folder.is_dir():
        return {"name": canonical_name(model_name)}
    files = {}
    for pattern in _FINGERPRINT_GLOBS:
        for path in folder.glob(pattern):
            if path.is_file():
                files[path.relative_to(folder).as_posix()] = path.stat().st_size
    return {"name": canonical_name(model_name), "files": dict(sorted(files.items()))}


# --------------------------------------------------------------------------- cache state
def read_meta(folder: str | os.PathLike) -> dict | None:
    """The export's metadata, or None when there is no complete export in ``folder``."""
    try:
        meta = json.loads((Path(folder) / META_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) and meta.get("format") == FORMAT_VERSION else None


def is_exported(folder: str | os.PathLike, model_name: str, variant: str = "float") -> bool:
    """Whether ``folder`` holds a complete, current export of ``model_name``."""
    meta = read_meta(folder)
    if meta is None or meta.get("fingerprint") != source_fingerprint(model_name):
        return False
    entry = meta.get("files", {}).get(variant)
    if not entry:
        return False
    for name, size in ((entry["file"], entry["bytes"]), (TOKENIZER_FILE, None)):
        path = Path(folder) / name
        if not path.is_file() or (size is not None and path.stat().st_size != size):
            return False
    return True


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


class OnnxExportError(RagError):
    """The model cannot be exported (unsupported modules, or a mismatching result)."""


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _write_json(path: Path, value: dict) -> None:
    _write_atomic(path, (json.dumps(value, indent=2, ensure_ascii=False) + "\n").encode())


def _tmp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


# --------------------------------------------------------------------------- runtime
def _pooling_mode(config: dict) -> str:
    """The pooling mode from a Pooling config in either format (``pooling_mode`` string
    of sentence-transformers 5+, or the older ``pooling_mode_*_tokens`` flags)."""
    mode = config.get("pooling_mode")
    if isinstance(mode, str):
        return mode
    modes = [value for key, value in _OLD_POOLING_KEYS.items() if config.get(key)]
    if len(modes) != 1:
        raise OnnxExportError(f"unsupported pooling config {config}")
    return modes[0]


def _default_threads() -> int:
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class OnnxEncoder:
    """Texts to L2-normalised float32 vectors with an exported model.

    Same interface as :class:`ragcli.embed.Encoder` (``encode``, ``encode_query``,
    ``dimension``, ``max_seq_length``, ``model_name``); uses only onnxruntime,
    tokenizers and numpy. The session is created on first use.
    """

    def __init__(
        self,
        folder: str | os.PathLike,
        variant: str = "float",
        batch_size: int = 32,
        threads: int | None = None,
        _meta: dict | None = None,
    ):
        self.folder = Path(folder)
        meta = _meta if _meta is not None else read_meta(self.folder)
        if meta is None:
            raise RagError(f"no ONNX export in {self.folder}")
        if variant not in meta.get("files", {}):
            raise RagError(f"the ONNX export in {self.folder} has no {variant!r} model")
        self.meta = meta
        self.variant = variant
        self.model_name = meta["model_name"]
        self.batch_size = batch_size
        self.threads = threads or _default_threads()
        self.max_seq_length = int(meta["max_seq_length"])
        self.dimension = int(meta["dimension"])
        self.pooling = _pooling_mode(meta["pooling"])
        if self.pooling not in _POOLING_MODES:
            raise RagError(f"unsupported pooling mode {self.pooling!r}")
        self.input_names = list(meta["input_names"])
        self.pad_id = int(meta.get("pad_id", 0))

    @cached_property
    def tokenizer(self):
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(self.folder / TOKENIZER_FILE))
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length=self.max_seq_length)
        return tokenizer

    @cached_property
    def session(self):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3  # errors only
        # Idle ORT threads must not spin: FAISS's OpenMP threads run right after a query
        # is embedded, and spinning ORT threads doubled dense search time on 2 cores.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        path = self.folder / self.meta["files"][self.variant]["file"]
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def load(self) -> OnnxEncoder:
        """Create the tokenizer and session now (they are otherwise made on first use)."""
        _ = self.tokenizer, self.session
        return self

    def encode(
        self,
        texts: Sequence[str],
        progress: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        """Embeddings of ``texts``, L2-normalised; ``progress(n)`` after each group of n."""
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        group = self.batch_size * 16
        for start in range(0, len(texts), group):
            batch = list(texts[start : start + group])
            out[start : start + len(batch)] = self._encode_group(batch)
            if progress:
                progress(len(batch))
        return out

    def encode_query(self, text: str) -> np.ndarray:
        return self.encode([text])[0]

    def _encode_group(self, texts: list[str]) -> np.ndarray:
        encodings = self.tokenizer.encode_batch(texts)
        # Longest first, as sentence-transformers does, so batches need little padding.
        order = sorted(range(len(texts)), key=lambda i: -len(encodings[i].ids))
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            vectors[rows] = self._run([encodings[i] for i in rows])
        return vectors

    def _run(self, encodings) -> np.ndarray:
        length = max(len(e.ids) for e in encodings)
        shape = (len(encodings), length)
        arrays = {
            "input_ids": np.full(shape, self.pad_id, dtype=np.int64),
            "attention_mask": np.zeros(shape, dtype=np.int64),
            "token_type_ids": np.zeros(shape, dtype=np.int64),
        }
        for row, enc in enumerate(encodings):
            n = len(enc.ids)
            arrays["input_ids"][row, :n] = enc.ids
            arrays["attention_mask"][row, :n] = enc.attention_mask
            arrays["token_type_ids"][row, :n] = enc.type_ids
        feed = {name: arrays[name] for name in self.input_names}
        tokens = self.session.run(None, feed)[0].astype(np.float32, copy=False)
        return _normalize(_pool(tokens, arrays["attention_mask"], self.pooling))


def _pool(tokens: np.ndarray, attention_mask: np.ndarray, mode: str) -> np.ndarray:
    """sentence-transformers' Pooling for one batch of token embeddings."""
    if mode == "cls":
        return tokens[:, 0]
    mask = attention_mask[..., None].astype(np.float32)
    if mode == "max":
        return np.where(mask > 0, tokens, -1e9).max(axis=1)
    summed = (tokens * mask).sum(axis=1)
    counts = np.clip(mask.sum(axis=1), 1e-9, None)
    if mode == "mean_sqrt_len_tokens":
        return summed / np.sqrt(counts)
    return summed / counts


def _normalize(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.ascontiguousarray(vectors / np.maximum(norms, 1e-12), dtype=np.float32)


# --------------------------------------------------------------------------- export
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
    quantize: bool = False,
    verify: bool = True,
) -> Path:
    """Export ``model_name`` to ONNX in ``folder`` (created if needed) and return it.

    Imports torch and sentence-transformers. Every file is written through a temporary
    name and ``os.replace``; the metadata file last. Raises OnnxExportError when the model's
    modules are not Transformer + Pooling (+ Normalize), or when the exported model
    does not reproduce sentence-transformers' embeddings.
    """
    from ragcli.weights import load_sentence_transformers

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / META_FILE).unlink(missing_ok=True)
    st = load_sentence_transformers("SentenceTransformer", model_name, "embedding model")
    transformer, pooling_config = _check_modules(st)

    tokenizer = _plain_tokenizer(st, model_name)
    _write_atomic(folder / TOKENIZER_FILE, tokenizer.to_str().encode())
    input_names = [
        name
        for name in ("input_ids", "attention_mask", "token_type_ids")
        if name in getattr(st.tokenizer, "model_input_names", ["input_ids", "attention_mask"])
    ]
    if input_names[:2] != ["input_ids", "attention_mask"]:
        raise OnnxExportError(f"cannot export {model_name!r}: tokenizer inputs {input_names}")

    model_path = folder / MODEL_FILES["float"]
    exporter = _export_transformer(transformer.auto_model, input_names, model_path)
    meta = {
        "format": FORMAT_VERSION,
        "model_name": canonical_name(model_name),
        "fingerprint": source_fingerprint(model_name),
        "max_seq_length": int(st.max_seq_length),
        "dimension": int(_dimension(st)),
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
        _quantize_into(st, folder, meta, verify)
        _write_json(folder / META_FILE, meta)
    return folder


def quantize_export(model_name: str, folder: str | os.PathLike, verify: bool = True) -> Path:
    """Add the int8 model to an existing float export (exports first if needed)."""
    folder = Path(folder)
    if not is_exported(folder, model_name, "float"):
        return export_onnx(model_name, folder, quantize=True, verify=verify)
    meta = read_meta(folder)
    st = None
    if verify:
        from ragcli.weights import load_sentence_transformers

        st = load_sentence_transformers("SentenceTransformer", model_name, "embedding model")
    _quantize_into(st, folder, meta, verify)
    _write_json(folder / META_FILE, meta)
    return folder


def _quantize_into(st, folder: Path, meta: dict, verify: bool) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    source = folder / meta["files"]["float"]["file"]
    target = folder / MODEL_FILES["int8"]
    tmp = _tmp_name(target)
    try:
        with warnings.catch_warnings(), _quiet_logging():
            warnings.simplefilter("ignore")
            # Per-channel int8 weights: per-tensor scales cost far more accuracy here
            # (cosine to float about 0.94 against 0.99 on SciFact abstracts).
            quantize_dynamic(source, tmp, weight_type=QuantType.QInt8, per_channel=True)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    meta["files"]["int8"] = {"file": target.name, "bytes": target.stat().st_size}
    if verify:
        meta["files"]["int8"]["min_cosine"] = _verify(st, folder, meta, "int8")


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
    mode = _pooling_mode(config)
    if mode not in _POOLING_MODES:
        raise OnnxExportError(f"cannot export a model with {mode!r} pooling to ONNX")
    if config.get("include_prompt") is False:
        raise OnnxExportError("cannot export a model whose pooling leaves out the prompt")
    return modules[0], config


def _dimension(st) -> int:
    getter = getattr(st, "get_embedding_dimension", None) or st.get_sentence_embedding_dimension
    return int(getter())


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

    class TokenEmbeddings(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids=None):
            kwargs = {"input_ids": input_ids, "attention_mask": attention_mask}
            if token_type_ids is not None:
                kwargs["token_type_ids"] = token_type_ids
            return self.inner(**kwargs, return_dict=True)[0]

    with contextlib.suppress(Exception):  # eager attention exports to plain ONNX ops
        model.set_attn_implementation("eager")
    wrapper = TokenEmbeddings(model).eval()
    # Batch 2 and length 16: torch.export would fix axes traced with size 1.
    ids = torch.full((2, 16), 1000, dtype=torch.long)
    mask = torch.ones((2, 16), dtype=torch.long)
    mask[1, 10:] = 0
    example = {
        "input_ids": ids,
        "attention_mask": mask,
        "token_type_ids": torch.zeros((2, 16), dtype=torch.long),
    }
    args = tuple(example[name] for name in input_names)
    tmp = _tmp_name(path)
    errors = []
    try:
        for exporter in ("dynamo", "torchscript"):
            try:
                with torch.no_grad(), warnings.catch_warnings(), _quiet_logging():
                    warnings.simplefilter("ignore")
                    if exporter == "dynamo":
                        batch, seq = torch.export.Dim("batch"), torch.export.Dim("sequence")
                        torch.onnx.export(
                            wrapper,
                            args,
                            str(tmp),
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
                            str(tmp),
                            input_names=input_names,
                            output_names=["token_embeddings"],
                            opset_version=OPSET,
                            dynamo=False,
                            dynamic_axes={n: axes for n in [*input_names, "token_embeddings"]},
                        )
                os.replace(tmp, path)
                return exporter
            except Exception as err:  # noqa: BLE001  (try the other exporter)
                errors.append(f"{exporter}: {type(err).__name__}: {err}".splitlines()[0])
                logger.debug("ONNX export with %s failed", exporter, exc_info=True)
    finally:
        tmp.unlink(missing_ok=True)
    raise OnnxExportError("ONNX export failed (" + "; ".join(errors) + ")")


def _verify(st, folder: Path, meta: dict, variant: str) -> float:
    """Least cosine between ONNX and sentence-transformers on the probe texts."""
    texts = list(_PROBE_TEXTS)
    expected = st.encode(
        texts, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
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


# --------------------------------------------------------------------------- entry point
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
    returns False silently: the sentence-transformers Encoder reports that when used.
    """
    if variant not in MODEL_FILES:
        raise ValueError(f"variant must be one of {sorted(MODEL_FILES)}")
    folder = Path(cache_dir)
    if is_exported(folder, model_name, variant):
        return True
    if not export_available() or _failed_before(folder, model_name, variant) is not None:
        return False
    try:
        if variant == "int8" and is_exported(folder, model_name, "float"):
            quantize_export(model_name, folder)
        else:
            export_onnx(model_name, folder, quantize=variant == "int8")
        return is_exported(folder, model_name, variant)
    except OnnxExportError as err:
        with contextlib.suppress(OSError):
            _write_json(
                folder / FAILED_FILE,
                {
                    "format": FORMAT_VERSION,
                    "variant": variant,
                    "fingerprint": source_fingerprint(model_name),
                    "reason": str(err),
                },
            )
        (warn or logger.warning)(_failure_message(variant, str(err)))
    except RagError:
        pass
    except Exception as err:  # noqa: BLE001  (never fail a search or an ingest over the cache)
        (warn or logger.warning)(_failure_message(variant, f"{type(err).__name__}: {err}"))
    return False


def query_encoder(
    model_name: str,
    cache_dir: str | os.PathLike,
    *,
    variant: str = "float",
    export: bool = True,
    batch_size: int = 64,
    warn: Callable[[str], None] | None = None,
):
    """An encoder for ``model_name``: an :class:`OnnxEncoder` over ``cache_dir`` when the
    export is there (or, with ``export``, can be made now: this imports torch once),
    else the sentence-transformers :class:`ragcli.embed.Encoder`.

    ``variant`` is ``"float"`` (matches sentence-transformers) or ``"int8"``; when the
    int8 model cannot be made, the float one is used if it is there.
    """
    import importlib.util

    if variant not in MODEL_FILES:
        raise ValueError(f"variant must be one of {sorted(MODEL_FILES)}")
    folder = Path(cache_dir)
    if importlib.util.find_spec("onnxruntime") is not None:
        if export:
            usable = ensure_export(model_name, folder, variant=variant, warn=warn)
        else:
            usable = is_exported(folder, model_name, variant)
        if usable:
            return OnnxEncoder(folder, variant, batch_size)
        if variant != "float" and is_exported(folder, model_name, "float"):
            return OnnxEncoder(folder, "float", batch_size)
    from ragcli.embed import Encoder

    return Encoder(model_name, batch_size)


def _failure_message(variant: str, reason: str) -> str:
    reason = reason.strip().splitlines()[0] if reason.strip() else "unknown error"
    return f"no ONNX {variant} query encoder ({reason}); using the fallback encoder"
