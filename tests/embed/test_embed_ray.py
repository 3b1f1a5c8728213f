"""``rag ingest --engine ray``: RayEncoder on a real local Ray instance with the real
all-MiniLM-L6-v2 model, against the local sentence-transformers Encoder.

The tests that need Ray share one module-scoped session (starting Ray costs seconds);
the ones that must run before any session exists (a bad address is checked only when
this module starts Ray itself) come first in the file.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from ragcli.embed import SentenceTransformerEncoder as Encoder
from ragcli.embed import ray as embed_ray
from ragcli.embed.ray import (
    RayEncoder,
    assemble,
    check_reachable,
    plan_actors,
    ray_session,
    threads_per_actor,
    worker_env,
    worker_error,
)
from ragcli.errors import RagError, UsageError
from ragcli.weights import DEFAULT_EMBED_MODEL

# Ray Data's own DataContext reads its deprecated settings when it is shipped to actors.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.data.context")

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "docs"
MAX_ABS_DIFF = 1e-5


def _real_texts() -> list[str]:
    """The example corpus as whole files (longer than the model reads, so truncated),
    then paragraphs, then sentences: 278 texts, the slowest first."""
    files = [path.read_text(encoding="utf-8") for path in sorted(EXAMPLES.iterdir())]
    paragraphs = [p.strip() for text in files for p in text.split("\n\n") if p.strip()]
    sentences = [s.strip() for p in paragraphs for s in p.split(". ") if len(s) > 20]
    return files + paragraphs + sentences


# Pure parts: no Ray ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cluster_cpus", "requested", "cpus_per_actor", "expected"),
    [
        (2, None, 1.0, 1),  # this machine: one actor, one CPU left for Ray Data
        (2, 4, 1.0, 1),
        (2, None, 0.5, 2),
        (2, None, 0.75, 1),
        (3, None, 1.0, 2),
        (16, None, 1.0, 15),
        (16, 4, 1.0, 4),
        (16, None, 4.0, 3),
        (2.5, None, 0.5, 3),
    ],
)
def test_plan_actors_leaves_a_cpu_free(cluster_cpus, requested, cpus_per_actor, expected):
    actors = plan_actors(cluster_cpus, requested, cpus_per_actor)
    assert actors == expected
    assert actors * cpus_per_actor <= cluster_cpus - 1


@pytest.mark.parametrize(
    ("cluster_cpus", "requested", "cpus_per_actor"),
    [(1, None, 1.0), (1, 1, 0.5), (2, None, 1.5), (0, None, 1.0), (4, 0, 1.0), (4, 1, 0.0)],
)
def test_plan_actors_refuses_what_cannot_run(cluster_cpus, requested, cpus_per_actor):
    with pytest.raises(UsageError):
        plan_actors(cluster_cpus, requested, cpus_per_actor)


@pytest.mark.parametrize(
    ("cluster_cpus", "actors", "cpus_per_actor", "expected"),
    [
        (2, 1, 1.0, 2),  # this machine: the one actor uses both cores, as local ingest does
        (16, 15, 1.0, 1),
        (16, 3, 4.0, 5),
        (2, 2, 0.5, 1),
        (3, 1, 2.0, 3),
    ],
)
def test_threads_per_actor_is_the_actors_share_of_the_cluster(
    cluster_cpus, actors, cpus_per_actor, expected
):
    assert threads_per_actor(cluster_cpus, actors, cpus_per_actor) == expected


def test_assemble_puts_out_of_order_batches_back_in_place():
    vectors = np.arange(20, dtype=np.float32).reshape(10, 2)
    batches = [(np.arange(start, min(start + 3, 10)), None) for start in range(0, 10, 3)]
    batches = [(rows, vectors[rows]) for rows, _ in reversed(batches)]
    assert np.array_equal(assemble(10, batches), vectors)


def test_assemble_rejects_missing_and_repeated_rows():
    one = np.ones((2, 3), dtype=np.float32)
    with pytest.raises(RagError, match="2 of 3"):
        assemble(3, [(np.array([0, 2]), one)])
    with pytest.raises(RagError, match="twice"):
        assemble(2, [(np.array([0, 1]), one), (np.array([1, 0]), one)])


def test_worker_env_passes_model_settings_but_no_tokens():
    env = {
        "HF_HUB_OFFLINE": "1",
        "HF_HOME": "/cache/hf",
        "HF_TOKEN": "secret",
        "RAG_CACHE_DIR": "/cache/rag",
        "TRANSFORMERS_OFFLINE": "1",
        "PATH": "/bin",
        "RAY_AUTH_TOKEN": "secret",
    }
    assert worker_env(env) == {
        "HF_HUB_OFFLINE": "1",
        "HF_HOME": "/cache/hf",
        "RAG_CACHE_DIR": "/cache/rag",
        "TRANSFORMERS_OFFLINE": "1",
    }


def test_worker_error_finds_the_ragcli_message_in_ray_text():
    text = (
        "The actor died because of an error raised in its creation task\n"
        '  File "models.py", line 102, in load_sentence_transformers\n'
        "ragcli.errors.RagError: cannot load embedding model 'x': not in the local cache"
    )
    assert (
        worker_error(RuntimeError(text))
        == "cannot load embedding model 'x': not in the local cache"
    )
    assert worker_error(RuntimeError("a\nValueError: bad")) == "ValueError: bad"


@pytest.mark.slow
def test_import_does_not_import_ray():
    code = "import sys, ragcli.embed.ray; print('ray' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_missing_ray_is_one_line_with_the_extra_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(RagError) as info:
        RayEncoder(DEFAULT_EMBED_MODEL).encode(["text"])
    assert "ragcli[ray]" in str(info.value)
    assert "\n" not in str(info.value)


# Addresses: checked before this module's Ray session starts -------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("address", ["127.0.0.1:1", "ray://127.0.0.1:1"])
def test_bad_address_fails_fast(address):
    import ray

    assert not ray.is_initialized()
    started = time.perf_counter()
    with pytest.raises(RagError) as info:
        RayEncoder(DEFAULT_EMBED_MODEL, address=address).encode(["text"])
    assert time.perf_counter() - started < 10
    assert address in str(info.value) and "\n" not in str(info.value)
    assert not ray.is_initialized()


@pytest.mark.slow
def test_bad_ray_address_variable_fails_fast(monkeypatch):
    import ray

    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:1")
    with pytest.raises(RagError, match="cannot connect to Ray"):
        RayEncoder(DEFAULT_EMBED_MODEL).encode(["text"])
    assert not ray.is_initialized()


def test_malformed_address_is_a_usage_error():
    with pytest.raises(UsageError):
        check_reachable("ray://host:notaport")


# Real Ray, real model ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def ray_up(embed_model_path):
    """One local Ray instance for the tests below, shut down at the end."""
    import ray

    with ray_session():
        yield
    assert not ray.is_initialized()


@pytest.fixture(scope="module")
def texts() -> list[str]:
    return _real_texts()


@pytest.fixture(scope="module")
def local_vectors(texts, embed_model_path) -> np.ndarray:
    return Encoder(DEFAULT_EMBED_MODEL).encode(texts)


@pytest.mark.slow
def test_ray_matches_local_encoder_in_input_order(ray_up, texts, local_vectors, monkeypatch):
    arrivals: list[list[int]] = []
    real_assemble = embed_ray.assemble

    def recording_assemble(count, batches):
        def recorded():
            for rows, vectors in batches:
                arrivals.append(rows.tolist())
                yield rows, vectors

        return real_assemble(count, recorded())

    monkeypatch.setattr(embed_ray, "assemble", recording_assemble)
    warnings: list[str] = []
    progress: list[int] = []
    # 0.5 CPU per actor: 2 actors fit on a 2-CPU machine, so batches finish out of order;
    # asking for 5 is lowered (and said once).
    encoder = RayEncoder(
        DEFAULT_EMBED_MODEL, batch_size=8, actors=5, cpus_per_actor=0.5, warn=warnings.append
    )
    vectors = encoder.encode(texts, progress=progress.append)

    assert vectors.dtype == np.float32 and vectors.shape == local_vectors.shape
    difference = float(np.abs(vectors - local_vectors).max())
    print(f"\nmax abs difference Ray vs local over {len(texts)} texts: {difference:.3g}")
    assert difference <= MAX_ABS_DIFF
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert encoder.dimension == 384

    assert sum(progress) == len(texts) and len(progress) > 10
    assert len(warnings) == 1 and "2 embedding actor(s)" in warnings[0]

    arrived = [row for rows in arrivals for row in rows]
    assert sorted(arrived) == list(range(len(texts)))
    print(f"batches arrived out of input order: {arrived != sorted(arrived)}")


@pytest.mark.slow
def test_model_failing_in_the_workers_is_one_line(ray_up):
    started = time.perf_counter()
    with pytest.raises(RagError) as info:
        RayEncoder("ragcli-test/no-such-model", actors=1).encode(["text"])
    message = str(info.value)
    assert "cannot load embedding model 'ragcli-test/no-such-model'" in message
    assert "\n" not in message
    assert time.perf_counter() - started < 60


def test_no_texts_need_no_cluster(embed_model_path):
    vectors = RayEncoder(DEFAULT_EMBED_MODEL, address="127.0.0.1:1").encode([])
    assert vectors.shape == (0, 384) and vectors.dtype == np.float32
