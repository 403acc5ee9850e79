"""Validation of paths a user (or a backup manifest) hands us: nothing may lead out of the folder
it is meant for, by ``..``, an absolute part, or a symlink on the way."""

from __future__ import annotations

from pathlib import Path, PurePosixPath


class UnsafePathError(ValueError):
    """A path that would leave its root or follow a symlink; the message says which and why."""


def safe_relative(relative: str) -> PurePosixPath:
    """A manifest-style relative path (``/``-separated) with no way out of its root."""
    if not relative or "\x00" in relative or "\\" in relative:
        raise UnsafePathError(f"{relative!r} is not a plain relative path")
    path = PurePosixPath(relative)
    if path.is_absolute() or any(part in ("..", "") for part in path.parts):
        raise UnsafePathError(f"{relative!r} leaves its folder (absolute or '..')")
    return path


def resolve_inside(root: Path, relative: str) -> Path:
    """``root / relative`` after checking that no existing component on the way is a symlink and
    that the result stays inside ``root`` once resolved."""
    parts = safe_relative(relative).parts
    current = root
    for part in parts:
        current = current / part
        if current.is_symlink():
            raise UnsafePathError(f"{relative!r}: {current} is a symlink; not followed")
    if not current.resolve().is_relative_to(root.resolve()):
        raise UnsafePathError(f"{relative!r} resolves outside {root}")
    return current


def user_directory(path: str | Path, *, must_exist: bool = False) -> Path:
    """A folder named by the user: ``~`` expanded, made absolute; refused when it is a symlink
    (we would write or read somewhere else than named) or exists as something else."""
    candidate = Path(path).expanduser()
    candidate = candidate if candidate.is_absolute() else Path.cwd() / candidate
    if candidate.is_symlink():
        raise UnsafePathError(f"{candidate} is a symlink; name the real folder instead")
    if candidate.exists() and not candidate.is_dir():
        raise UnsafePathError(f"{candidate} exists and is not a folder")
    if must_exist and not candidate.is_dir():
        raise UnsafePathError(f"{candidate} does not exist")
    return candidate


def is_inside(path: Path, folder: Path) -> bool:
    return path.resolve().is_relative_to(folder.resolve())
