"""Cross-dataset protocols over several builds: MCIO leave-one-domain-out, CASIA <-> Replay-Attack.

The four domains of the field's domain-generalisation benchmark are MSU-MFSD (M), CASIA-FASD
(C), Idiap Replay-Attack (I) and OULU-NPU (O); each is a fasprep build, whose dataset (read from
its manifest) says which domain it is. From them :func:`cross_protocols` forms:

- ``mcio-to-m``, ``mcio-to-c``, ``mcio-to-i``, ``mcio-to-o`` (all four builds given): ``train``
  = the train and test splits of the other three domains (their dev splits excluded, as SSDG's
  and FLIP's lists do), ``test`` = the target's train and test splits, and ``dev`` = the dev
  splits of the sources that have one (Replay-Attack's, OULU-NPU's): videos of the source
  domains that training never sees, whose EER threshold is the strict threshold policy. (The
  published HTER uses the EER threshold of the target's test scores themselves: an oracle.)
- ``casia-to-replay`` (C and I given): ``train`` = CASIA train, ``dev`` = CASIA test (CASIA has
  no dev split; its test videos are the held-out source data), ``test`` = Replay-Attack test;
  ``replay-to-casia``: ``train`` = Replay-Attack train, ``dev`` = its dev, ``test`` = CASIA test.

Every row names its ``build`` (relative to the folder the protocols are written to) and its
``domain`` letter, so one protocol spans several builds (:class:`fasprep.datasets.ProtocolRow`).
Counts of the full releases (videos of train + test, as SSDG's and FLIP's released lists
count them): M 280, C 600, I 840, O 3600.
"""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from ..errors import InputError
from ..io import atomic_path
from .base import ProtocolRow, Protocols, write_protocols

#: The MCIO domains in the benchmark's order: letter -> (adapter name, what a user reads).
DOMAINS = {"M": ("msu-mfsd", "MSU-MFSD"), "C": ("casia-fasd", "CASIA-FASD"),
           "I": ("replay-attack", "Idiap Replay-Attack"), "O": ("oulu-npu", "OULU-NPU")}

#: Adapter name -> domain letter.
DOMAIN_OF = {name: letter for letter, (name, _) in DOMAINS.items()}

#: Every protocol :func:`cross_protocols` can write.
CROSS_PROTOCOLS = tuple(f"mcio-to-{d.lower()}" for d in DOMAINS) + ("casia-to-replay", "replay-to-casia")

#: What each split of a protocol is made of: split -> [(domain, the domain's release splits)].
SplitPlan = dict[str, list[tuple[str, tuple[str, ...]]]]

#: The cross folder's description of what it combined.
CROSS_FILE = "cross.json"
CROSS_FORMAT = "fasprep-cross"

_SPLIT_NAMES = {"devel": "dev", "development": "dev", "valid": "dev", "validation": "dev"}


def release_split(split: str) -> str:
    """A release's split name as ``train``, ``dev`` or ``test`` (OULU-NPU's ``Train``, Replay's ``devel``).

    >>> release_split("Train"), release_split("devel"), release_split("test")
    ('train', 'dev', 'test')
    """
    s = str(split).strip().lower()
    return _SPLIT_NAMES.get(s, s)


@dataclass(frozen=True)
class DomainBuild:
    """One build standing for a domain.

    Attributes
    ----------
    domain : str
        ``M``, ``C``, ``I`` or ``O``.
    dataset : str
        The adapter name from the manifest (``msu-mfsd``, ...).
    path : Path
        The build folder, as given.
    videos : dict
        The manifest's ``videos``: video_id -> {label, split, ...}.
    config_hash : str
        The manifest's ``config_hash`` (the label options).
    """

    domain: str
    dataset: str
    path: Path
    videos: dict
    config_hash: str


def read_domain_build(path: str | os.PathLike) -> DomainBuild:
    """The domain, dataset and videos of a build folder, from its manifest.

    Raises
    ------
    InputError
        No manifest, a dataset that is no MCIO domain, or a video without a split (a version-1
        build).
    """
    from ..shards import read_manifest

    path = Path(path)
    manifest = read_manifest(path)
    dataset = manifest.get("dataset")
    if dataset not in DOMAIN_OF:
        known = ", ".join(f"{d} ({name})" for d, (name, _) in DOMAINS.items())
        raise InputError(path / "manifest.json", f"a build of {dataset!r}, which is no cross-dataset domain; "
                                                 f"the domains are {known}")
    videos = manifest.get("videos", {})
    no_split = [v for v, r in videos.items() if not r.get("split")]
    if no_split:
        raise InputError(path / "manifest.json", f"{len(no_split)} videos without a split (e.g. {no_split[0]}): "
                                                 "a version-1 build; rebuild it with this fasprep")
    return DomainBuild(DOMAIN_OF[dataset], dataset, path, videos, str(manifest.get("config_hash", "")))


def domain_builds(builds: Sequence[DomainBuild]) -> dict[str, DomainBuild]:
    """The builds by domain letter, in the benchmark's order (M, C, I, O).

    Raises
    ------
    InputError
        Two builds of one domain (both named).
    """
    by_domain: dict[str, DomainBuild] = {}
    for b in builds:
        if b.domain in by_domain:
            raise InputError(b.path, f"a second build of domain {b.domain} ({b.dataset}); the first is "
                                     f"{by_domain[b.domain].path}: give one build per domain")
        by_domain[b.domain] = b
    return {d: by_domain[d] for d in DOMAINS if d in by_domain}


def protocol_plan(domains: Sequence[str]) -> dict[str, SplitPlan]:
    """Which domains and release splits make each split of each protocol the given domains allow.

    Examples
    --------
    >>> plan = protocol_plan("MCIO")
    >>> plan["mcio-to-m"]["train"]
    [('C', ('train', 'test')), ('I', ('train', 'test')), ('O', ('train', 'test'))]
    >>> plan["mcio-to-m"]["dev"], plan["mcio-to-m"]["test"]
    ([('C', ('dev',)), ('I', ('dev',)), ('O', ('dev',))], [('M', ('train', 'test'))])
    >>> sorted(protocol_plan("CI"))
    ['casia-to-replay', 'replay-to-casia']
    """
    have = set(domains)
    plans: dict[str, SplitPlan] = {}
    if have >= set(DOMAINS):
        for target in DOMAINS:
            sources = [d for d in DOMAINS if d != target]
            plans[f"mcio-to-{target.lower()}"] = {"train": [(d, ("train", "test")) for d in sources],
                                                  "dev": [(d, ("dev",)) for d in sources],
                                                  "test": [(target, ("train", "test"))]}
    if have >= {"C", "I"}:
        plans["casia-to-replay"] = {"train": [("C", ("train",))], "dev": [("C", ("test",))], "test": [("I", ("test",))]}
        plans["replay-to-casia"] = {"train": [("I", ("train",))], "dev": [("I", ("dev",))], "test": [("C", ("test",))]}
    return plans


def build_reference(build: str | os.PathLike, out: str | os.PathLike) -> str:
    """How a protocol row in ``out`` names ``build``: its path relative to ``out``
    (``../oulu-out``), so the two move together; ``read_protocol``'s readers resolve it from
    ``out`` (an absolute path written by hand works as well)."""
    return Path(os.path.relpath(Path(build).resolve(), Path(out).resolve())).as_posix()


def cross_protocols(builds: Mapping[str, DomainBuild], out: str | os.PathLike) -> Protocols:
    """The cross-dataset protocols the given domains allow (:func:`protocol_plan`), rows naming
    their build relative to ``out`` and their domain.

    Rows are sorted by domain (M, C, I, O) then ``video_id``; a split no video falls into (a
    dev split of sources without one) is left out. Every video of a build's manifest is listed,
    failed ones too (the trainer leaves those out, saying why), so the counts are the release's.
    """
    refs = {d: build_reference(b.path, out) for d, b in builds.items()}
    protocols: Protocols = {}
    for name, splits in protocol_plan(list(builds)).items():
        protocols[name] = {}
        for split, parts in splits.items():
            rows = [ProtocolRow(v, rec["label"], None, refs[d], d)
                    for d, wanted in parts for v, rec in sorted(builds[d].videos.items())
                    if release_split(rec["split"]) in wanted]
            if rows:
                protocols[name][split] = rows
    return protocols


def protocol_counts(protocols: Protocols) -> dict:
    """protocol -> split -> domain -> {label: videos}: what each split holds."""
    out: dict = {}
    for name, splits in protocols.items():
        for split, rows in splits.items():
            per = out.setdefault(name, {}).setdefault(split, {})
            order = list(DOMAINS)
            for (d, label), n in sorted(Counter((r.domain, r.label) for r in rows).items(),
                                        key=lambda kv: (order.index(kv[0][0]), kv[0][1])):
                per.setdefault(d, {})[label] = n
    return out


def write_cross(builds: Sequence[str | os.PathLike], out: str | os.PathLike) -> dict:
    """Write the cross-dataset protocols of some builds into ``out/protocols/`` and ``out/cross.json``.

    Parameters
    ----------
    builds : paths of fasprep build folders, in any order
        Each one's dataset (from its manifest) is its domain: ``msu-mfsd`` M, ``casia-fasd`` C,
        ``replay-attack`` I, ``oulu-npu`` O. The four give ``mcio-to-*``; C and I give
        ``casia-to-replay`` and ``replay-to-casia``.
    out : path
        The cross folder (created); not a build folder. Protocols of an earlier run there that
        this one does not write are removed, so the folder never mixes two sets of builds.

    Returns
    -------
    dict, as written to ``cross.json``: ``format``, ``version``, ``builds`` (domain -> {build,
    dataset, config_hash, videos}), ``protocols`` (:func:`protocol_counts`) and ``notes``
    (protocols not written, and why).

    Raises
    ------
    InputError
        A build that is none (no manifest) or no domain's, two builds of one domain, ``out``
        being a build, or builds that give no protocol at all (the message names the missing
        domains).
    """
    out = Path(out)
    if (out / "manifest.json").is_file():
        raise InputError(out, "is a build folder; write the cross-dataset protocols into a folder of their own")
    by_domain = domain_builds([read_domain_build(b) for b in builds])
    missing = [d for d in DOMAINS if d not in by_domain]
    notes = []
    if missing:
        names = ", ".join(f"{d} ({DOMAINS[d][1]})" for d in missing)
        notes.append(f"mcio-to-m/c/i/o not written: no build of {names}")
        if not {"C", "I"} <= set(by_domain):
            notes.append("casia-to-replay and replay-to-casia not written: they need builds of C and I")
    protocols = cross_protocols(by_domain, out)
    if not protocols:
        raise InputError("builds", f"no cross-dataset protocol from domains {', '.join(by_domain) or 'none'}: "
                                   f"{'; '.join(notes)}")
    for name in CROSS_PROTOCOLS:  # what an earlier run wrote and this one does not
        folder = out / "protocols" / name
        if folder.is_dir():
            for stale in folder.glob("*.csv"):
                if stale.stem not in protocols.get(name, {}):
                    stale.unlink()
            if name not in protocols:
                shutil.rmtree(folder)
    write_protocols(out, protocols)
    summary = {"format": CROSS_FORMAT, "version": 1,
               "builds": {d: {"build": build_reference(b.path, out), "dataset": b.dataset,
                              "config_hash": b.config_hash, "videos": len(b.videos)} for d, b in by_domain.items()},
               "protocols": protocol_counts(protocols), "notes": notes}
    with atomic_path(out / CROSS_FILE) as tmp:
        tmp.write_text(json.dumps(summary, indent=1) + "\n")
    return summary


def read_cross(out: str | os.PathLike) -> dict:
    """``out/cross.json`` (:func:`write_cross`), the build paths resolved: ``builds`` domain ->
    {build (Path), dataset, config_hash, videos}.

    Raises
    ------
    InputError
        No such file, or not a fasprep cross folder's.
    """
    path = Path(out) / CROSS_FILE
    try:
        cross = json.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(out, f"neither a build folder (manifest.json) nor a cross-dataset folder ({CROSS_FILE})") from None
    except json.JSONDecodeError as exc:
        raise InputError(path, f"not valid JSON ({exc})") from exc
    if cross.get("format") != CROSS_FORMAT:
        raise InputError(path, f"format is {cross.get('format')!r}, expected {CROSS_FORMAT!r}")
    for b in cross["builds"].values():
        b["build"] = Path(out) / b["build"]
    return cross


def format_cross(summary: dict) -> str:
    """Lines for a person: the builds, and per protocol and split the videos (live/attack) by domain."""
    lines = ["builds: " + ", ".join(f"{d} {b['dataset']} ({b['videos']} videos, {b['build']})"
                                     for d, b in summary["builds"].items())]
    for name, splits in summary["protocols"].items():
        parts = []
        for split, per in splits.items():
            total = sum(sum(c.values()) for c in per.values())
            detail = " + ".join(f"{d} {c.get('live', 0)}/{sum(c.values()) - c.get('live', 0)}"
                                for d, c in per.items())
            parts.append(f"{split} {total} ({detail})")
        lines.append(f"{name}: " + "; ".join(parts))
    lines.append("(per domain: live/attack videos)")
    lines += [f"note: {n}" for n in summary["notes"]]
    return "\n".join(lines)
