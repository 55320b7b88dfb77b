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


class DatasetLayoutError(FasprepError):
    """A dataset tree does not have the layout its adapter expects."""


class ModelAssetError(FasprepError):
    """A model file (e.g. the Surrey Face Model) is missing or fails its checksum."""
