"""reStructuredText through docutils: sections as heading paths, no underlines or
directive markup in the text, Sphinx roles and directives rendered, nothing on stderr."""

from __future__ import annotations

import pytest

from ragcli.load import kind_of, load_file
from ragcli.load.rst import role_text

# Shaped like Flask's config.rst: Sphinx roles and directives docutils does not know.
CONFIG = """\
.. _config:

Configuration Handling
======================

.. toctree::
   :maxdepth: 2

   quickstart

Applications need some kind of configuration. Use
:meth:`~flask.Config.from_prefixed_env` or :meth:`flask.Config.from_file`;
see :ref:`the tutorial <tutorial>` and :doc:`/patterns/appfactories`.

.. versionadded:: 2.1
   The :func:`~flask.json.dumps` hook.

Builtin Configuration Values
----------------------------

.. py:data:: DEBUG
   :value: False

   Whether debug mode is enabled.

.. code-block:: python
   :emphasize-lines: 2

   app = Flask(__name__)
   app.config["DEBUG"] = True

.. note:: Do not enable debug mode when deploying in production.

.. class:: Config(root_path, defaults=None)

   Works exactly like a dict but provides ways to fill it from files.

.. autoclass:: flask.Config
   :members:

Keys live in ``app.config``, and ``__init__`` keeps its underscores.

=========  =======
Key        Default
=========  =======
DEBUG      False
TESTING    False
=========  =======
"""


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "config.rst"
    path.write_text(CONFIG, encoding="utf-8")
    [doc] = load_file(path, tmp_path)
    return doc


def test_sections_are_heading_paths(config):
    assert config.kind == "rst"
    assert config.title == "Configuration Handling"
    assert [s.location.heading for s in config.sections] == [
        ("Configuration Handling",),
        ("Configuration Handling", "Builtin Configuration Values"),
    ]


def test_no_underlines_or_directive_markup(config):
    assert "=====" not in config.text and "-----" not in config.text
    assert ".. " not in config.text and "::" not in config.text
    assert ":maxdepth:" not in config.text and "quickstart" not in config.text
    assert "autoclass" not in config.text and "_config" not in config.text


def test_sphinx_roles_are_their_text(config):
    flat = " ".join(config.text.split())
    assert "Use from_prefixed_env or flask.Config.from_file;" in flat
    assert "see the tutorial and /patterns/appfactories." in flat
    assert ":meth:" not in flat and "~" not in flat and "`" not in flat


def test_sphinx_directives_keep_their_text(config):
    flat = " ".join(config.text.split())
    assert "New in version 2.1: The dumps hook." in flat
    assert "DEBUG Whether debug mode is enabled." in flat
    assert 'app = Flask(__name__)\napp.config["DEBUG"] = True' in config.text
    assert "Note: Do not enable debug mode when deploying in production." in flat
    assert "Config(root_path, defaults=None) Works exactly like a dict" in flat
    assert "Keys live in app.config, and __init__ keeps its underscores." in flat
    assert "Key | Default\nDEBUG | False\nTESTING | False" in config.text


def test_docutils_writes_nothing_to_stderr(tmp_path, capfd):
    path = tmp_path / "broken.rst"
    path.write_text(
        "Title\n=====\n\nAn :unknown-role:`x` and |undefined| and `broken link`_.\n\n"
        ".. include:: /etc/passwd\n\n.. raw:: html\n\n   <b>RAW</b>\n\n"
        ".. image:: missing.png\n   :bogus-option: 1\n",
        encoding="utf-8",
    )
    [doc] = load_file(path, tmp_path)
    captured = capfd.readouterr()
    assert captured.err == "" and captured.out == ""
    assert "An x and |undefined| and broken link." in " ".join(doc.text.split())
    assert "root:" not in doc.text and "RAW" not in doc.text


def test_version_directives_without_and_with_two_versions(tmp_path):
    path = tmp_path / "old.rst"
    path.write_text(
        "Old module\n==========\n\n.. versionchanged::\n\n"
        ".. deprecated-removed:: 3.11 3.13\n   See :pep:`PEP 594 <594#aifc>`.\n",
        encoding="utf-8",
    )
    [doc] = load_file(path, tmp_path)
    assert doc.text == (
        "Old module\n\nChanged in version.\n\n"
        "Deprecated since version 3.11, removed in version 3.13: See PEP 594."
    )


def test_docutils_own_class_directive_still_works_after_a_sphinx_class(tmp_path, config):
    path = tmp_path / "plain.rst"
    path.write_text(".. class:: special\n\nA plain paragraph.\n", encoding="utf-8")
    [doc] = load_file(path, tmp_path)
    assert doc.text == "A plain paragraph."


@pytest.mark.parametrize(
    ("content", "shown"),
    [
        ("~flask.Config.from_prefixed_env", "from_prefixed_env"),
        ("flask.Config.from_prefixed_env", "flask.Config.from_prefixed_env"),
        ("the tutorial <tutorial>", "the tutorial"),
        ("<tutorial>", "tutorial"),
        ("!os.path", "os.path"),
    ],
)
def test_role_text(content, shown):
    assert role_text(content) == shown


def test_sphinx_sources_load_as_rst():
    assert kind_of("_sources/library/json.rst.txt") == "rst"
    assert kind_of("guide.rst") == "rst"
    assert kind_of("notes.txt") == "text"
