"""The one registry of things chosen by name (``ragcli.registry``): formats, encoders,
language-model backends and stores, each open to a plugin the way the built-ins use it."""

from __future__ import annotations

import hashlib
import sys
import textwrap
from collections.abc import Iterator

import numpy as np
import pytest

from ragcli.config import Settings
from ragcli.embed import ENCODERS, EncoderBackend, EncoderRequest, ingest_encoder, query_encoder
from ragcli.errors import IndexStateError, UsageError
from ragcli.generate import LLMS, Backend, make_backend
from ragcli.load import FORMATS, Loader, load_file, supported
from ragcli.load.builder import Builder
from ragcli.prompt import Prompt
from ragcli.registry import Registry
from ragcli.store import STORES, StoreKind, store_exists

# -- the registry itself --------------------------------------------------------------------


def test_an_unknown_name_is_one_line_naming_the_known_ones():
    colours: Registry[int] = Registry("colour")
    colours.register("red", 0xF00, aliases=("crimson",))
    colours.register("blue", 0x00F)
    with pytest.raises(UsageError) as err:
        colours.get("green")
    assert str(err.value) == "unknown colour 'green': choose one of red, blue"


def test_names_and_aliases_are_found_in_any_case():
    colours: Registry[int] = Registry("colour")
    colours.register("red", 0xF00, aliases=("Crimson",))
    assert colours.get(" RED ") == 0xF00 and colours.get("crimson") == 0xF00
    assert colours.canonical("CRIMSON") == "red"
    with pytest.raises(ValueError, match="registered already"):
        colours.register("crimson", 0xD00)


def test_a_target_named_by_module_and_attribute_is_imported_when_first_asked_for():
    modules: Registry[object] = Registry("thing")
    modules.register("dedent", "textwrap:dedent")
    assert modules.registered()[0].target == "textwrap:dedent"  # not imported yet
    assert modules.get("dedent") is textwrap.dedent


def test_the_built_in_registries_name_their_choices(tmp_path):
    with pytest.raises(UsageError) as llm:
        LLMS.canonical("gpt")
    assert str(llm.value) == (
        "unknown LLM backend 'gpt': choose one of claude, ollama, openai, extractive"
    )
    with pytest.raises(UsageError) as encoder:
        ingest_encoder(Settings(embed_backend="tfidf"), warn=print)
    assert str(encoder.value) == (
        "unknown embed backend 'tfidf': choose one of auto, torch, onnx, onnx-int8, "
        "onnx-int8-fused, ollama, openai"
    )


def test_a_plugin_listed_as_an_entry_point_is_found_by_name(tmp_path, monkeypatch):
    """A real installed distribution (its dist-info on sys.path) whose entry point in
    ``ragcli.llms`` names a backend class: read only when the name is not built in."""
    (tmp_path / "ragcli_echo_plugin.py").write_text(
        "from ragcli.generate import Backend\n\n"
        "class EchoBackend(Backend):\n"
        "    name = 'echo'\n"
        "    default_model = 'echo-1'\n\n"
        "    def _run(self, prompt, meta):\n"
        "        yield 'echo: ' + prompt.question\n"
    )
    info = tmp_path / "ragcli_echo_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: ragcli-echo-plugin\nVersion: 1.0\n"
    )
    (info / "entry_points.txt").write_text("[ragcli.llms]\necho = ragcli_echo_plugin:EchoBackend\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    llms: Registry[type[Backend]] = Registry("LLM backend", group="ragcli.llms")
    llms.register("extractive", "ragcli.generate.extractive:ExtractiveBackend")

    assert "ragcli_echo_plugin" not in sys.modules
    assert llms.canonical("extractive") == "extractive"  # a built-in name reads nothing
    assert [entry.name for entry in llms.registered()] == ["extractive"]
    backend = llms.get("echo")
    assert backend.__module__ == "ragcli_echo_plugin" and llms.entry("echo").plugin
    assert list(llms) == ["extractive", "echo"]
    sys.modules.pop("ragcli_echo_plugin", None)


# -- plugins registered through the API, chosen by name like the built-ins -----------------


class EchoBackend(Backend):
    """A language-model backend that says the question back."""

    name = "echo"
    default_model = "echo-1"

    def _run(self, prompt: Prompt, meta: dict) -> Iterator[str]:
        yield f"echo: {prompt.question}"


@pytest.fixture
def registered():
    """Register plugins for one test, and take them out again."""
    added: list[tuple[Registry, str]] = []

    def register(registry: Registry, name: str, target, **options) -> None:
        registry.register(name, target, **options)
        added.append((registry, name))

    yield register
    for registry, name in added:
        registry.unregister(name)


def test_a_plugin_llm_backend_answers_when_named(registered):
    registered(LLMS, "echo", EchoBackend, aliases=("parrot",))
    backend = make_backend(Settings(), "Parrot")
    prompt = Prompt(question="what is BM25?", system="", user="", sources=[])
    answer = backend.generate(prompt)
    assert isinstance(backend, EchoBackend) and backend.selection_reason == "named explicitly"
    assert (answer.text, answer.backend, answer.model) == ("echo: what is BM25?", "echo", "echo-1")


class HashEncoder:
    """Vectors from the hash of each text's words: a real, if poor, encoder."""

    model_name = "hash-words"
    variant = "hash"
    dimension = 16

    def encode(self, texts, progress=None) -> np.ndarray:
        rows = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in zip(rows, texts, strict=True):
            for word in text.lower().split():
                row[hashlib.sha1(word.encode()).digest()[0] % self.dimension] += 1.0
            row /= max(float(np.linalg.norm(row)), 1e-9)
        return rows

    def encode_query(self, text: str) -> np.ndarray:
        return self.encode([text])[0]


def test_a_plugin_encoder_embeds_an_ingest_and_its_queries(registered):
    made: list[EncoderRequest] = []

    def make(request: EncoderRequest) -> HashEncoder:
        made.append(request)
        return HashEncoder()

    registered(ENCODERS, "hash", EncoderBackend("hash", make, make))
    ingest = ingest_encoder(Settings(embed_backend="HASH"), warn=print)
    queries = query_encoder({"embed_variant": "hash", "embed_model": "x"}, Settings(), warn=print)
    assert isinstance(ingest, HashEncoder) and isinstance(queries, HashEncoder)
    assert [request.backend for request in made] == ["hash", "hash"]
    assert float(queries.encode_query("bm25 ranking") @ ingest.encode(["BM25 ranking"])[0]) > 0.99


def test_vectors_no_backend_makes_are_refused_for_queries():
    with pytest.raises(IndexStateError, match="'hash', which no embed backend makes"):
        query_encoder({"embed_variant": "hash", "embed_model": "x"}, Settings(), warn=print)


def _load_shout(path, root):
    builder, location = Builder("shout", empty="nothing shouted"), None
    for line in path.read_text().splitlines():
        if line.startswith("!! "):
            location = builder.heading(1, line[3:])
        else:
            builder.add(line.upper(), location)
    return [builder.document(path, root, path.stem)]


def test_a_plugin_format_loads_its_files(registered, tmp_path):
    (tmp_path / "notes.shout").write_text("!! Greeting\nhello there\n")
    assert not supported(tmp_path / "notes.shout")
    registered(FORMATS, "shout", Loader("shout", _load_shout, (".shout",)))
    assert supported(tmp_path / "notes.shout")
    [document] = load_file(tmp_path / "notes.shout", tmp_path)
    assert (document.kind, document.text) == ("shout", "Greeting\n\nHELLO THERE")
    assert document.sections[0].location.heading == ("Greeting",)


class FolderOfOne:
    """A store kind whose index is there when its folder holds a file named ``ready``."""

    @staticmethod
    def exists(path, uri, *, collection, base_dir) -> bool:
        return (base_dir / uri.partition("://")[2] / "ready").exists()

    @staticmethod
    def never(*args, **kwargs):
        raise IndexStateError("a folder of one holds no chunks")


def test_a_plugin_store_is_chosen_by_the_scheme_of_its_uri(registered, tmp_path):
    registered(STORES, "one", StoreKind(FolderOfOne.never, FolderOfOne.never, FolderOfOne.exists))
    (tmp_path / "here").mkdir()
    where = {"collection": "c", "base_dir": tmp_path}
    assert not store_exists(tmp_path, "one://here", **where)
    (tmp_path / "here" / "ready").write_text("")
    assert store_exists(tmp_path, "one://here", **where)
    with pytest.raises(UsageError, match="^invalid store URI 'two://here'"):
        store_exists(tmp_path, "two://here", **where)
