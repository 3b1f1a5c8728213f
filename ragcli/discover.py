"""The ``discover`` stage: find the files under a root that ``load`` can read.

Walks the tree (or takes a single file), skipping by default hidden files and folders,
virtualenvs, ``node_modules``, ``__pycache__`` and whatever ``.gitignore``/``.ragignore``
files exclude (gitignore semantics; an ignore file applies to its own folder and below,
deeper files win, ``!pattern`` re-includes). Only ignore files inside the root are read.

``include``/``exclude`` are gitignore-style patterns relative to the root
(``papers/**/*.pdf``, ``*.md``, ``drafts/``). Files left out by the rules above are
dropped silently (the user asked for that); every other file seen and not returned is in
``Discovery.skipped`` with a one-line reason: files of unsupported types (``unsupported
type .png``; a file without an extension is returned when its first bytes are text),
names that are not valid UTF-8, symlinks that resolve outside the ingested roots (unless
``follow_links``), broken symlinks, symlink loops, unreadable folders and ignore files,
special files, and files reached twice (symlinks or hard links; the copy not reached
through a symlink is kept). Nothing here raises for a bad entry; a missing root raises
``UsageError``.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pathspec

from ragcli.errors import UsageError
from ragcli.globs import MAX_PATTERN_CHARS, gitignore_spec, user_spec
from ragcli.load import sniff_text, supported

IGNORE_FILES = (".gitignore", ".ragignore")
SKIP_DIR_NAMES = frozenset({".git", "venv", ".venv", "node_modules", "__pycache__"})
VENV_MARKERS = ("pyvenv.cfg", "conda-meta")
BAD_NAME = "file name is not valid UTF-8"
OUTSIDE_LINK = "symlink to outside the ingested folders (--follow-links to include it)"


@dataclass
class Discovery:
    files: list[Path] = field(default_factory=list)  # sorted, absolute
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, one-line reason)


_Specs = tuple[tuple[str, pathspec.GitIgnoreSpec], ...]  # (folder rel path, spec)


@dataclass(frozen=True)
class _Dir:
    path: str  # absolute, as reached (symlinks not resolved)
    rel: str  # POSIX path relative to the root, "" for the root
    specs: _Specs
    ancestors: frozenset[tuple[int, int]]  # (st_dev, st_ino) of the folders above + self
    via_symlink: bool


@dataclass(frozen=True)
class _Candidate:
    path: str
    via_symlink: bool
    key: tuple[int, int]


def _spec(lines: list[str], path: str, result: Discovery) -> pathspec.GitIgnoreSpec:
    """A gitignore spec; lines pathspec rejects are dropped, as git ignores them, and a
    line over ``MAX_PATTERN_CHARS`` is dropped with a note in ``result.skipped``."""
    try:
        return gitignore_spec(lines)
    except Exception:
        good = []
        for number, line in enumerate(lines, 1):
            try:
                gitignore_spec([line])
            except Exception:
                if len(line) > MAX_PATTERN_CHARS:
                    reason = f"line {number}: pattern over {MAX_PATTERN_CHARS} characters, not used"
                    result.skipped.append((path, reason))
                continue
            good.append(line)
        return gitignore_spec(good)


def _user_spec(patterns: list[str] | None, option: str) -> pathspec.GitIgnoreSpec | None:
    if not patterns:
        return None
    return user_spec(patterns, f"--{option}")


def _ignored(rel: str, specs: _Specs) -> bool:
    """Gitignore verdict for ``rel`` (a folder if it ends with "/"): last match wins."""
    verdict = False
    for base, spec in specs:
        sub = rel[len(base) + 1 :] if base else rel
        result = spec.check_file(sub)
        if result.include is not None:
            verdict = result.include
    return verdict


def _link_reason(err: OSError) -> str:
    if err.errno == errno.ELOOP:
        return "symlink loop"
    if err.errno in (errno.ENOENT, errno.ENOTDIR):
        return "broken symlink"
    if isinstance(err, PermissionError):
        return "symlink target: permission denied"
    return f"symlink target unreadable: {(err.strerror or type(err).__name__).lower()}"


def _os_reason(err: OSError) -> str:
    if isinstance(err, PermissionError):
        return "permission denied"
    return (err.strerror or type(err).__name__).lower()


def printable_path(path: str) -> str:
    """``path`` as text that can be printed and stored: undecodable bytes as ``\\xff``."""
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _valid_name(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # os.scandir gave surrogate escapes for undecodable bytes
        return False
    return True


def unsupported_reason(name: str) -> str:
    suffix = Path(name).suffix.lower()
    return f"unsupported type {suffix}" if suffix else "unsupported type (binary, no extension)"


def _is_venv(path: str) -> bool:
    return any(os.path.lexists(os.path.join(path, marker)) for marker in VENV_MARKERS)


def discover(
    root: Path,
    include: list[str] | None = None,
    exclude: list[str] | None = None,
    *,
    roots: Sequence[Path] = (),
    follow_links: bool = False,
    ocr: bool = False,
) -> Discovery:
    """Supported files under ``root`` (or ``root`` itself if it is a file); images of
    text only with ``ocr``.

    A symlink is followed only when it resolves inside ``root`` or one of ``roots``
    (all the folders of one run), or when ``follow_links`` is set.
    """
    include_spec = _user_spec(include, "include")
    exclude_spec = _user_spec(exclude, "exclude")
    root_path = os.path.abspath(os.path.expanduser(os.fspath(root)))
    result = Discovery()
    if not _valid_name(root_path):
        raise UsageError(f"{printable_path(root_path)}: {BAD_NAME}")

    try:
        root_stat = os.stat(root_path)
    except OSError as err:
        if os.path.islink(root_path):
            raise UsageError(f"{root_path}: {_link_reason(err)}") from None
        if isinstance(err, FileNotFoundError):
            raise UsageError(f"{root_path}: no such file or directory") from None
        raise UsageError(f"{root_path}: {_os_reason(err)}") from None

    if not stat.S_ISDIR(root_stat.st_mode):
        if not stat.S_ISREG(root_stat.st_mode):
            result.skipped.append((root_path, "not a regular file"))
        elif _readable_type(root_path, ocr):
            result.files.append(Path(root_path))
        else:
            result.skipped.append((root_path, unsupported_reason(root_path)))
        return result

    fence = None if follow_links else _real_roots([Path(root_path), *roots])
    walker = _Walker(include_spec, exclude_spec, result, fence, ocr)
    stack = [
        _Dir(
            path=root_path,
            rel="",
            specs=(),
            ancestors=frozenset({(root_stat.st_dev, root_stat.st_ino)}),
            via_symlink=False,
        )
    ]
    while stack:
        stack.extend(reversed(walker.walk_one(stack.pop())))
    result.files = _dedupe(walker.candidates, result)
    return result


def _readable_type(path: str, ocr: bool = False) -> bool:
    """A supported name; a name without an extension needs text in its first bytes."""
    if not supported(Path(path), ocr=ocr):
        return False
    return bool(Path(path).suffix) or sniff_text(Path(path))


def _real_roots(roots: Sequence[Path]) -> tuple[str, ...]:
    return tuple(os.path.realpath(os.path.expanduser(os.fspath(root))) for root in roots)


def _inside(real: str, fence: tuple[str, ...]) -> bool:
    return any(real == root or real.startswith(root.rstrip(os.sep) + os.sep) for root in fence)


def _read_ignore_file(path: str, result: Discovery) -> list[str] | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read().splitlines()
    except OSError as err:
        result.skipped.append((path, f"ignore file not read: {_os_reason(err)}"))
        return None


class _Walker:
    """Walks folders one at a time, collecting file candidates and skipped entries."""

    def __init__(
        self,
        include_spec: pathspec.GitIgnoreSpec | None,
        exclude_spec: pathspec.GitIgnoreSpec | None,
        result: Discovery,
        fence: tuple[str, ...] | None,
        ocr: bool = False,
    ):
        self.ocr = ocr  # images of text are files to read
        self.include_spec = include_spec
        self.exclude_spec = exclude_spec
        self.result = result
        self.fence = fence  # real paths symlinks must resolve under; None follows all
        self.candidates: list[_Candidate] = []

    def walk_one(self, folder: _Dir) -> list[_Dir]:
        """Files of one folder go to ``candidates``; returns its subfolders to walk."""
        try:
            with os.scandir(folder.path) as scan:
                entries = sorted(scan, key=lambda entry: entry.name)
        except OSError as err:
            self.result.skipped.append((folder.path, _os_reason(err)))
            return []
        specs = self._folder_specs(folder, entries)
        subdirs: list[_Dir] = []
        for entry in entries:
            if not entry.name.startswith("."):
                subdir = self._entry(folder, specs, entry)
                if subdir is not None:
                    subdirs.append(subdir)
        return subdirs

    def _folder_specs(self, folder: _Dir, entries: list[os.DirEntry]) -> _Specs:
        """The ignore rules for this folder: its parents' plus its own ignore files."""
        specs = folder.specs
        names = {entry.name: entry for entry in entries}
        for ignore_name in IGNORE_FILES:
            entry = names.get(ignore_name)
            if entry is None:
                continue
            try:
                is_file = entry.is_file()
            except OSError:
                is_file = False
            if not is_file:
                continue
            lines = _read_ignore_file(entry.path, self.result)
            if lines:
                specs = (*specs, (folder.rel, _spec(lines, entry.path, self.result)))
        return specs

    def _excluded(self, rel: str) -> bool:
        return self.exclude_spec is not None and bool(self.exclude_spec.match_file(rel))

    def _entry(self, folder: _Dir, specs: _Specs, entry: os.DirEntry) -> _Dir | None:
        """Handle one entry: a subfolder to walk is returned, a file becomes a candidate."""
        name = entry.name
        rel = f"{folder.rel}/{name}" if folder.rel else name
        if not _valid_name(name):
            if not (_ignored(rel, specs) or self._excluded(rel)):
                self.result.skipped.append((printable_path(entry.path), BAD_NAME))
            return None
        try:
            is_link = entry.is_symlink()
        except OSError:
            is_link = False
        try:
            info = entry.stat(follow_symlinks=True)
        except OSError as err:
            if not is_link:
                self.result.skipped.append((entry.path, _os_reason(err)))
            elif not self._dropped_link(rel, specs):
                self.result.skipped.append((entry.path, _link_reason(err)))
            return None
        via_symlink = folder.via_symlink or is_link
        outside = is_link and self._outside(entry.path)
        if stat.S_ISDIR(info.st_mode):
            return self._subdir(folder, specs, entry, rel, info, via_symlink, outside)
        self._file(specs, entry, rel, info, via_symlink, outside)
        return None

    def _outside(self, path: str) -> bool:
        return self.fence is not None and not _inside(os.path.realpath(path), self.fence)

    def _dropped_link(self, rel: str, specs: _Specs) -> bool:
        """A link with an unknown target is reported unless the rules drop it anyway."""
        if _ignored(rel, specs) or self._excluded(rel):
            return True
        name = Path(rel).name
        return bool(Path(name).suffix) and not supported(Path(name))

    def _subdir(
        self,
        folder: _Dir,
        specs: _Specs,
        entry: os.DirEntry,
        rel: str,
        info: os.stat_result,
        via_symlink: bool,
        outside: bool,
    ) -> _Dir | None:
        dir_rel = rel + "/"
        if entry.name in SKIP_DIR_NAMES or _ignored(dir_rel, specs):
            return None
        if self._excluded(dir_rel) or _is_venv(entry.path):
            return None
        if outside:
            self.result.skipped.append((entry.path, OUTSIDE_LINK))
            return None
        key = (info.st_dev, info.st_ino)
        if key in folder.ancestors:
            self.result.skipped.append((entry.path, "symlink loop"))
            return None
        return _Dir(
            path=entry.path,
            rel=rel,
            specs=specs,
            ancestors=folder.ancestors | {key},
            via_symlink=via_symlink,
        )

    def _file(
        self,
        specs: _Specs,
        entry: os.DirEntry,
        rel: str,
        info: os.stat_result,
        via_symlink: bool,
        outside: bool,
    ) -> None:
        if _ignored(rel, specs) or self._excluded(rel):
            return
        if self.include_spec is not None and not self.include_spec.match_file(rel):
            return
        if outside:
            self.result.skipped.append((entry.path, OUTSIDE_LINK))
            return
        if not stat.S_ISREG(info.st_mode):
            if supported(Path(entry.name)):
                self.result.skipped.append((entry.path, "not a regular file"))
            return
        if not _readable_type(entry.path, self.ocr):
            self.result.skipped.append((entry.path, unsupported_reason(entry.name)))
            return
        self.candidates.append(_Candidate(entry.path, via_symlink, (info.st_dev, info.st_ino)))


def _dedupe(candidates: list[_Candidate], result: Discovery) -> list[Path]:
    """One path per underlying file, preferring one not reached through a symlink."""
    by_key: dict[tuple[int, int], list[_Candidate]] = {}
    unique: list[_Candidate] = []
    for candidate in candidates:
        if candidate.key[1] == 0:  # no usable inode numbers on this filesystem
            unique.append(candidate)
        else:
            by_key.setdefault(candidate.key, []).append(candidate)
    for group in by_key.values():
        group.sort(key=lambda c: (c.via_symlink, c.path.count(os.sep), c.path))
        unique.append(group[0])
        for other in group[1:]:
            result.skipped.append((other.path, f"same file as {group[0].path}"))
    result.skipped.sort()
    return sorted(Path(candidate.path) for candidate in unique)
