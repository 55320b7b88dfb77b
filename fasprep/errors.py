"""Exception tree of fasprep.

Library code raises these; the CLI turns them into one line on stderr and an exit code
(2 for bad input). Everything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import os


class FasprepError(Exception):
    """Base class of every error fasprep raises on purpose."""


class InputError(FasprepError):
    """An input file or array is unusable: missing, unreadable, too short, no face.

    Parameters
    ----------
    source : str or os.PathLike or None
        The file (or argument name) at fault; it leads the message.
    reason : str
        What is wrong with it, in words a user can act on.
    """

    def __init__(self, source: str | os.PathLike | None, reason: str):
        self.source = None if source is None else os.fspath(source)
        self.reason = reason
        super().__init__(f"{self.source}: {reason}" if self.source else reason)

    def __reduce__(self):  # rebuilt from (source, reason) when a worker process sends it back
        return type(self), (self.source, self.reason)


class OutputError(FasprepError):
    """An output cannot be written: the disk is full, the folder read-only or not writable.

    Parameters
    ----------
    path : str or os.PathLike
        The file or folder being written; it leads the message.
    reason : str
        The operating system's reason (``No space left on device``).
    """

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path, self.reason = os.fspath(path), reason
        super().__init__(f"{self.path}: {reason}")

    def __reduce__(self):
        return type(self), (self.path, self.reason)


class DatasetLayoutError(FasprepError):
    """A dataset tree does not have the layout its adapter expects."""


class ModelAssetError(FasprepError):
    """A model file (e.g. the Surrey Face Model) is missing or fails its checksum."""
