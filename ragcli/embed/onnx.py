"""The ONNX Runtime encoder: the embedding model without torch or transformers.

``import sentence_transformers`` costs seconds (torch alone more than a second); a
search only has to embed one short query. So the embedding model is exported to ONNX
once (:mod:`ragcli.embed.onnx_export`, at ingest or on first use) into a cache folder,
and texts are then embedded with ``onnxruntime`` + ``tokenizers`` + ``numpy`` only. This
encoder embeds queries, and with ``--embed-backend onnx`` / ``onnx-int8`` the chunks at
ingest too.

The cache folder (``ragcli.embed.onnx_cache_dir(model)``, ``<cache>/onnx/<model-slug>/``)
holds:

- ``model.onnx``: the transformer, inputs ``input_ids``/``attention_mask`` (and
  ``token_type_ids`` when the tokenizer makes them), output the token embeddings, with
  dynamic batch and sequence axes;
- ``model-int8.onnx``: optionally, the same with int8 dynamic quantisation;
- ``model-int8-fused.onnx``: optionally, the graph after ONNX Runtime's transformer
  fusions (SkipLayerNormalization, BiasGelu), then int8 dynamic quantisation: the same
  arithmetic in fewer, larger kernels (the default ingest encoder);
- ``tokenizer.json``: the tokenizer sentence-transformers used, padding and truncation off;
- ``ragcli-onnx.json``: written last, so its presence means the export is complete: the
  model name, a fingerprint of the source weights, ``max_seq_length``, the pooling
  config of the model's ``Pooling`` module and the file sizes.

This module reads that folder (``read_meta``, ``is_exported``) and runs it
(:class:`OnnxEncoder`). Importing it imports neither torch nor transformers nor
sentence-transformers.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Sequence
from functools import cached_property
from pathlib import Path

import numpy as np

from ragcli.embed.spec import NO_SPEC, EmbedSpec, check_dimension
from ragcli.errors import RagError
from ragcli.weights import canonical_name, resolve_model_path

FORMAT_VERSION = 1
META_FILE = "ragcli-onnx.json"
TOKENIZER_FILE = "tokenizer.json"
MODEL_FILES = {
    "float": "model.onnx",
    "int8": "model-int8.onnx",
    "int8-fused": "model-int8-fused.onnx",
}

POOLING_MODES = ("mean", "cls", "max", "mean_sqrt_len_tokens")
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


class OnnxExportError(RagError):
    """The model cannot be exported (unsupported modules, or a mismatching result)."""


def pooling_mode(config: dict) -> str:
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

    A :class:`ragcli.embed.base.Encoder` (also ``max_seq_length``, and ``load()``); uses
    only onnxruntime, tokenizers and numpy. The session is created on first use.
    ``spec``'s prompts go before the texts (as sentence-transformers puts them: one string,
    tokenised and truncated together) and its dimensions cut the vectors;
    ``expected_dimension``, the index's, is checked against every query vector.
    """

    def __init__(
        self,
        folder: str | os.PathLike,
        variant: str = "float",
        batch_size: int = 32,
        threads: int | None = None,
        _meta: dict | None = None,
        spec: EmbedSpec = NO_SPEC,
        device: str = "auto",
        expected_dimension: int | None = None,
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
        self.model_dimension = int(meta["dimension"])
        self.spec = spec
        self.dimension = spec.dimension_of(self.model_dimension)
        self.device = device
        self.expected_dimension = expected_dimension
        self.pooling = pooling_mode(meta["pooling"])
        if self.pooling not in POOLING_MODES:
            raise RagError(f"unsupported pooling mode {self.pooling!r}")
        # Dynamic int8 quantises activations with one scale per input tensor, so in a
        # batch a text's vector would depend on its neighbours and on padding. int8 runs
        # one text per call: as fast here (no padding), and the same vector at ingest,
        # at query time and in a resumed or incremental run.
        self.run_size = batch_size if variant == "float" else 1
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
        from ragcli.embed.device import onnx_providers

        path = self.folder / self.meta["files"][self.variant]["file"]
        providers = onnx_providers(self.device, self.variant)
        return ort.InferenceSession(str(path), options, providers=providers)

    def load(self) -> OnnxEncoder:
        """Create the tokenizer and session now (they are otherwise made on first use)."""
        _ = self.tokenizer, self.session
        return self

    def encode(
        self,
        texts: Sequence[str],
        progress: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        """Embeddings of ``texts``, L2-normalised; ``progress(n)`` after each batch of n
        (so a progress bar has its first rate, and an ETA, after one batch)."""
        return self.spec.finish(self._encode(self.spec.documents(texts), progress))

    def encode_query(self, text: str) -> np.ndarray:
        return self.encode_queries([text])[0]

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Queries in one batch, with the query prompt (``encode`` is for documents)."""
        vectors = self.spec.finish(self._encode([self.spec.query(text) for text in texts]))
        check_dimension(vectors.shape[1], self.expected_dimension, self.model_name)
        return vectors

    def _encode(
        self, texts: Sequence[str], progress: Callable[[int], None] | None = None
    ) -> np.ndarray:
        out = np.zeros((len(texts), self.model_dimension), dtype=np.float32)
        group = self.batch_size * 16
        starts = list(range(0, len(texts), group))
        if len(starts) <= 1:  # one query, or a few texts: no thread
            if texts:
                out[:] = self._run_group(self._tokenize(texts), progress)
            return out
        from concurrent.futures import ThreadPoolExecutor

        # The next group is tokenised in a thread while ONNX Runtime runs this one (both
        # release the GIL), so the model does not wait for the tokenizer.
        with ThreadPoolExecutor(max_workers=1) as pool:
            ahead = pool.submit(self._tokenize, texts[:group])
            for i, start in enumerate(starts):
                encodings = ahead.result()
                if i + 1 < len(starts):
                    nxt = starts[i + 1]
                    ahead = pool.submit(self._tokenize, texts[nxt : nxt + group])
                out[start : start + len(encodings)] = self._run_group(encodings, progress)
        return out

    def _tokenize(self, texts: Sequence[str]) -> list:
        return self.tokenizer.encode_batch(list(texts))

    def _run_group(self, encodings: list, progress=None) -> np.ndarray:
        # Longest first, as sentence-transformers does, so batches need little padding.
        order = sorted(range(len(encodings)), key=lambda i: -len(encodings[i].ids))
        vectors = np.zeros((len(encodings), self.model_dimension), dtype=np.float32)
        for start in range(0, len(order), self.run_size):
            rows = order[start : start + self.run_size]
            vectors[rows] = self._run([encodings[i] for i in rows])
            if progress:
                progress(len(rows))
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
