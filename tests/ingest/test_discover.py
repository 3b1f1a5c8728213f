"""File discovery on real trees: ignore rules, globs, symlinks, unreadable folders."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from privileges import public_dir, unprivileged

from ragcli.discover import OUTSIDE_LINK, Discovery, discover
from ragcli.errors import UsageError


def make(root: Path, *names: str) -> None:
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"content of {name}\n", encoding="utf-8")


def rels(found: Discovery, root: Path) -> list[str]:
    return [path.relative_to(root).as_posix() for path in found.files]


def reasons(found: Discovery, root: Path) -> dict[str, str]:
    return {Path(path).relative_to(root).as_posix(): why for path, why in found.skipped}


def test_finds_supported_files_sorted_and_absolute(tmp_path):
    make(tmp_path, "b.md", "a.txt", "sub/c.py", "sub/deeper/d.pdf", "image.png", "sub/x.bin")
    found = discover(tmp_path)
    assert all(path.is_absolute() for path in found.files)
    assert found.files == sorted(found.files)
    assert rels(found, tmp_path) == ["a.txt", "b.md", "sub/c.py", "sub/deeper/d.pdf"]
    assert reasons(found, tmp_path) == {
        "image.png": "unsupported type .png",
        "sub/x.bin": "unsupported type .bin",
    }


def test_relative_root_gives_absolute_paths(tmp_path, monkeypatch):
    make(tmp_path, "docs/a.md")
    monkeypatch.chdir(tmp_path)
    found = discover(Path("docs"))
    assert found.files == [tmp_path / "docs" / "a.md"]


def test_single_file_root(tmp_path):
    make(tmp_path, "one.md", "pic.png")
    assert discover(tmp_path / "one.md").files == [tmp_path / "one.md"]
    unsupported = discover(tmp_path / "pic.png")
    assert unsupported.files == []
    assert unsupported.skipped == [(str(tmp_path / "pic.png"), "unsupported type .png")]


def test_missing_root_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="no such file or directory"):
        discover(tmp_path / "nope")


def test_default_skips_hidden_vcs_venvs_and_build_folders(tmp_path):
    make(
        tmp_path,
        "keep.md",
        ".hidden.md",
        ".secret/notes.md",
        ".git/description.txt",
        "venv/lib/site.py",
        ".venv/lib/site.py",
        "env/bin/activate.sh",
        "env/pyvenv.cfg",
        "conda/conda-meta/history.txt",
        "node_modules/pkg/index.js",
        "src/__pycache__/mod.py",
        "src/mod.py",
    )
    found = discover(tmp_path)
    assert rels(found, tmp_path) == ["keep.md", "src/mod.py"]
    assert found.skipped == []


def test_gitignore_and_ragignore(tmp_path):
    make(tmp_path, "a.md", "b.log", "build/out.txt", "drafts/d.md", "notes/keep.md")
    (tmp_path / ".gitignore").write_text("*.log\nbuild/\n", encoding="utf-8")
    (tmp_path / ".ragignore").write_text("# comment\ndrafts\n", encoding="utf-8")
    assert rels(discover(tmp_path), tmp_path) == ["a.md", "notes/keep.md"]


def test_nested_ignore_files_apply_to_their_subtree_only(tmp_path):
    make(
        tmp_path,
        "top.txt",
        "tmp.txt",
        "app/tmp.txt",
        "app/keep.log",
        "app/other.log",
        "app/inner/tmp.txt",
        "lib/secret.md",
        "lib/readme.md",
        "other/secret.md",
    )
    (tmp_path / ".gitignore").write_text("*.log\n", encoding="utf-8")
    (tmp_path / "app" / ".gitignore").write_text("tmp.txt\n!keep.log\n", encoding="utf-8")
    (tmp_path / "lib" / ".ragignore").write_text("/secret.md\n", encoding="utf-8")
    found = discover(tmp_path)
    assert rels(found, tmp_path) == [
        "app/keep.log",  # re-included by the deeper ignore file
        "lib/readme.md",
        "other/secret.md",  # lib/.ragignore does not reach here
        "tmp.txt",  # app/.gitignore does not reach the root
        "top.txt",
    ]


def test_include_and_exclude_globs(tmp_path):
    make(
        tmp_path,
        "readme.md",
        "papers/a.pdf",
        "papers/2024/b.pdf",
        "papers/2024/notes.md",
        "other/c.pdf",
        "drafts/x.md",
    )
    found = discover(tmp_path, include=["papers/**/*.pdf"])
    assert rels(found, tmp_path) == ["papers/2024/b.pdf", "papers/a.pdf"]

    found = discover(tmp_path, include=["*.md"], exclude=["drafts/"])
    assert rels(found, tmp_path) == ["papers/2024/notes.md", "readme.md"]

    found = discover(tmp_path, exclude=["*.pdf", "papers/2024/"])
    assert rels(found, tmp_path) == ["drafts/x.md", "readme.md"]


def test_invalid_pattern_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="--exclude"):
        discover(tmp_path, exclude=["!"])


def test_broken_symlink_and_symlink_loops_are_reported(tmp_path):
    make(tmp_path, "docs/real.md")
    (tmp_path / "docs" / "dangling.md").symlink_to(tmp_path / "missing.md")
    (tmp_path / "docs" / "a.md").symlink_to(tmp_path / "docs" / "b.md")
    (tmp_path / "docs" / "b.md").symlink_to(tmp_path / "docs" / "a.md")
    (tmp_path / "docs" / "up").symlink_to(tmp_path)  # a directory cycle
    (tmp_path / "docs" / "dangling.png").symlink_to(tmp_path / "missing.png")  # unsupported
    found = discover(tmp_path)
    assert rels(found, tmp_path) == ["docs/real.md"]
    assert reasons(found, tmp_path) == {
        "docs/dangling.md": "broken symlink",
        "docs/a.md": "symlink loop",
        "docs/b.md": "symlink loop",
        "docs/up": "symlink loop",
    }


def test_symlinked_directory_is_followed_once(tmp_path):
    make(tmp_path, "real/paper.md", "outside/ext.md")
    (tmp_path / "alias").symlink_to(tmp_path / "real")  # same folder twice
    root = tmp_path / "root"
    root.mkdir()
    (root / "real").symlink_to(tmp_path / "real")
    (root / "linked").symlink_to(tmp_path / "outside")
    make(root, "own.md")
    (root / "own-alias.md").symlink_to(root / "own.md")
    found = discover(root, follow_links=True)
    assert rels(found, root) == ["linked/ext.md", "own.md", "real/paper.md"]
    assert reasons(found, root) == {"own-alias.md": f"same file as {root / 'own.md'}"}
    inside = discover(root, roots=[tmp_path / "real"])  # real/ is ingested in the same run
    assert rels(inside, root) == ["own.md", "real/paper.md"]
    assert reasons(inside, root) == {
        "linked": OUTSIDE_LINK,
        "own-alias.md": f"same file as {root / 'own.md'}",
    }


def test_symlinks_out_of_the_root_are_skipped_unless_followed(tmp_path):
    root = tmp_path / "docs"
    make(root, "real.md")
    (root / "notes.txt").symlink_to("/etc/passwd")
    (root / "s.txt").symlink_to("/proc/self/status")
    (root / "inside.md").symlink_to(root / "real.md")  # inside: deduplicated, not refused
    found = discover(root)
    assert rels(found, root) == ["real.md"]
    assert reasons(found, root) == {
        "notes.txt": OUTSIDE_LINK,
        "s.txt": OUTSIDE_LINK,
        "inside.md": f"same file as {root / 'real.md'}",
    }
    assert "--follow-links" in OUTSIDE_LINK
    followed = discover(root, follow_links=True)
    assert rels(followed, root) == ["notes.txt", "real.md", "s.txt"]


def test_file_name_that_is_not_utf8_is_skipped_with_a_reason(tmp_path):
    root = tmp_path / "d"
    make(root, "good.txt")
    with open(os.fsencode(root) + b"/bad_\xff.txt", "w") as handle:
        handle.write("text")
    os.mkdir(os.fsencode(root) + b"/dir_\xfe")
    found = discover(root)
    assert rels(found, root) == ["good.txt"]
    assert found.skipped == [
        (f"{root}/bad_\\xff.txt", "file name is not valid UTF-8"),
        (f"{root}/dir_\\xfe", "file name is not valid UTF-8"),
    ]


def test_unsupported_files_are_reported_and_text_without_extension_is_kept(tmp_path):
    make(tmp_path, "a.md", "photo.PNG", "LICENSE")
    (tmp_path / "program").write_bytes(b"\x7fELF\x00\x00binary")
    (tmp_path / "skip.log").write_text("excluded by the user: not reported")
    found = discover(tmp_path, exclude=["*.log"])
    assert rels(found, tmp_path) == ["LICENSE", "a.md"]
    assert reasons(found, tmp_path) == {
        "photo.PNG": "unsupported type .png",
        "program": "unsupported type (binary, no extension)",
    }


def test_unreadable_directory_is_skipped_with_reason():
    with public_dir() as root:
        make(root, "ok.md", "locked/inside.md")
        (root / "locked").chmod(0o000)
        with unprivileged() as enforced:
            found = discover(root)
        if enforced:
            assert rels(found, root) == ["ok.md"]
            assert found.skipped == [(str(root / "locked"), "permission denied")]
        else:  # root that may not drop privileges reads everything
            assert rels(found, root) == ["locked/inside.md", "ok.md"]
            assert found.skipped == []


def test_fifo_with_supported_name_is_not_returned(tmp_path):
    make(tmp_path, "a.md")
    os.mkfifo(tmp_path / "pipe.txt")
    found = discover(tmp_path)
    assert rels(found, tmp_path) == ["a.md"]
    assert reasons(found, tmp_path) == {"pipe.txt": "not a regular file"}
