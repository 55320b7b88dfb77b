"""Dataset adapters: find a dataset's videos by name, their labels, protocols and face priors.

One module per dataset behind one small interface (:class:`Dataset`, in :mod:`.base`):

- :mod:`.siw` SiW (``siw``), :mod:`.oulu_npu` OULU-NPU (``oulu-npu``), :mod:`.replay`
  Replay-Attack (``replay-attack``) and Replay-Mobile (``replay-mobile``), :mod:`.casia_fasd`
  CASIA-FASD (``casia-fasd``), :mod:`.msu_mfsd` MSU-MFSD (``msu-mfsd``), :mod:`.folder` any
  folder of videos with labels from a CSV or folder names (``folder``).

Adding a dataset is one file that builds a :class:`Dataset` and one line in :data:`DATASETS`.
"""

from __future__ import annotations

from ..errors import InputError
from . import casia_fasd, folder, msu_mfsd, oulu_npu, replay, siw
from .base import (
    LABELS,
    NOMINAL_FRAMES,
    PROTOCOL_HEADER,
    Dataset,
    ProtocolRow,
    Protocols,
    Scan,
    VideoRecord,
    format_plan,
    plan,
    read_protocol,
    write_protocols,
)

#: Adapters by name.
DATASETS: dict[str, Dataset] = {d.name: d for d in (siw.DATASET, oulu_npu.DATASET, replay.REPLAY_ATTACK,
                                                    replay.REPLAY_MOBILE, casia_fasd.DATASET, msu_mfsd.DATASET,
                                                    folder.DATASET)}


def get_dataset(name: str) -> Dataset:
    """The adapter registered as ``name``; :class:`InputError` listing the names otherwise."""
    try:
        return DATASETS[name]
    except KeyError:
        raise InputError("dataset", f"{name!r} is not a dataset fasprep knows: {', '.join(DATASETS)}") from None


__all__ = ["DATASETS", "LABELS", "NOMINAL_FRAMES", "PROTOCOL_HEADER", "Dataset", "ProtocolRow", "Protocols", "Scan",
           "VideoRecord", "format_plan", "get_dataset", "plan", "read_protocol", "write_protocols"]
