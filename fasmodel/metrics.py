"""Presentation attack detection (PAD) metrics after ISO/IEC 30107-3, over per-video scores.

Conventions used by every function here:

- One score per presentation (video); **higher = more likely an attack**.
- Labels are strings: ``"live"`` is bona fide (:data:`BONA_FIDE`); any other string is an
  attack type (PAI species), e.g. ``"print"``, ``"replay"``. Labels are compared exactly.
- A threshold ``tau`` classifies a presentation as an **attack when score >= tau** and as bona
  fide when ``score < tau``. A score equal to ``tau`` is therefore an attack.
- Rates are proportions in [0, 1].

Definitions (n = number of presentations of a kind):

- APCER(type) = #{attacks of that type with score < tau} / n(type). The APCER of the PAD system
  is the worst type's: APCER = max over types (ISO/IEC 30107-3, APCER_AP). It is *not* the
  rate over all attacks pooled.
- BPCER = #{bona fide with score >= tau} / n(bona fide).
- ACER = (APCER + BPCER) / 2, with the max APCER. ACER was dropped from the 2023 edition of the
  standard but is what the face anti-spoofing literature (SiW, OULU-NPU) reports.
- FAR = #{attacks, all types pooled, with score < tau} / n(attacks); FRR = BPCER;
  HTER = (FAR + FRR) / 2.
- EER: the candidate thresholds are the distinct observed scores (every operating point that
  any threshold can give is reached at one of them, since ties always move together). The EER
  threshold is the candidate that minimises ``|FAR - FRR|``; remaining ties go to the smaller
  HTER, then to the lower threshold (the one that rejects more). EER = HTER at that threshold,
  so it is always an operating point the system can actually run at, and
  ``hter(s, y, threshold=eer(s, y)[1]) == eer(s, y)[0]``. No interpolation between points.
- AUC: area under the ROC curve of attacks (positive) against bona fide, i.e. the probability
  that a random attack scores above a random bona fide presentation, ties counting one half
  (Mann-Whitney U / (n_attack n_bona_fide)). Threshold-free.
- TPR at FPR = 1 %: the largest fraction of attacks detected (score >= tau) at a threshold that
  rejects at most 1 % of bona fide presentations (FPR = BPCER <= 0.01), over the observed
  scores as thresholds. With fewer than 100 bona fide presentations that means rejecting none.

Threshold policy (:func:`evaluate`): the EER threshold of the development set when there is
one (``"dev-eer"``), else the EER threshold of the test scores themselves (``"test-eer"``,
optimistic: chosen on the data it is measured on), or a given one (``"given"``).

Every function raises :class:`ValueError` naming the argument at fault for mismatched lengths,
non-1-D input, non-finite scores, non-string labels, or a missing class the metric needs.
This module needs numpy only.

References
----------
ISO/IEC 30107-3:2017, "Biometric presentation attack detection -- Part 3: Testing and
reporting". Y. Liu, A. Jourabloo and X. Liu, "Learning deep models for face anti-spoofing:
binary or auxiliary supervision", CVPR 2018 (SiW protocols and the metrics reported).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np

#: The label of bona fide (live) presentations; every other label is an attack type.
BONA_FIDE = "live"

ThresholdSource = Literal["given", "dev-eer", "test-eer"]

__all__ = [
    "BONA_FIDE",
    "Apcer",
    "Report",
    "acer",
    "apcer",
    "auc",
    "bpcer",
    "eer",
    "evaluate",
    "far_frr",
    "hter",
    "small_split_warnings",
    "threshold_from_dev",
    "tpr_at_fpr",
    "video_scores",
]


# --------------------------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------------------------

def _check_scores(scores, name: str) -> np.ndarray:
    s = np.asarray(scores)
    if s.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D array of scores, got shape {s.shape}")
    if s.dtype.kind not in "biuf":
        raise ValueError(f"{name}: expected real numbers, got dtype {s.dtype}")
    s = s.astype(np.float64)
    bad = ~np.isfinite(s)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{name}: {int(bad.sum())} non-finite score(s) (NaN or inf), "
                         f"first at index {i}: {s[i]}")
    return s


def _check_labels(labels, name: str, n: int, scores_name: str) -> np.ndarray:
    y = np.asarray(labels)
    if y.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D array of labels, got shape {y.shape}")
    if len(y) != n:
        raise ValueError(f"{name}: length {len(y)} does not match {scores_name} length {n}")
    if len(y) and y.dtype.kind not in "UO":
        raise ValueError(f"{name}: expected string labels ({BONA_FIDE!r} or an attack type "
                         f"such as 'print'), got dtype {y.dtype}")
    if y.dtype.kind == "O":
        kinds = {type(v).__name__ for v in y if not isinstance(v, str)}
        if kinds:
            raise ValueError(f"{name}: expected string labels, got values of type "
                             f"{', '.join(sorted(kinds))}")
    return y.astype(str)


def _check_pair(scores, labels, *, need_bona_fide: bool, need_attacks: bool,
                names: tuple[str, str] = ("scores", "labels")) -> tuple[np.ndarray, np.ndarray]:
    """Validated (scores as float64, labels as str) arrays with the classes a metric needs."""
    s_name, y_name = names
    s = _check_scores(scores, s_name)
    y = _check_labels(labels, y_name, len(s), s_name)
    live = y == BONA_FIDE
    found = sorted(set(y.tolist()))
    if need_bona_fide and not live.any():
        raise ValueError(f"{y_name}: no bona fide presentations (label {BONA_FIDE!r}); "
                         f"labels found: {found}")
    if need_attacks and live.all():
        raise ValueError(f"{y_name}: no attack presentations (any label other than "
                         f"{BONA_FIDE!r}); labels found: {found}")
    return s, y


def _check_threshold(threshold, name: str = "threshold") -> float:
    try:
        t = float(threshold)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected a real number, got {threshold!r}") from None
    if not np.isfinite(t):
        raise ValueError(f"{name}: must be finite, got {t}")
    return t


# --------------------------------------------------------------------------------------------
# fixed-threshold metrics
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Apcer:
    """APCER per attack type and the system's APCER (the worst type's).

    Attributes
    ----------
    per_type : dict[str, float]
        APCER of each attack type present, keys sorted.
    max : float
        ``max(per_type.values())``: the APCER of the PAD system.
    worst : str
        The attack type attaining ``max`` (the first in sorted order on ties).
    """

    per_type: dict[str, float]
    max: float
    worst: str


def apcer(scores, labels, *, threshold: float) -> Apcer:
    """Attack presentation classification error rate per attack type, and its maximum.

    Parameters
    ----------
    scores : array_like, shape (N,), float
        One score per presentation; higher = more likely an attack.
    labels : array_like, shape (N,), str
        ``"live"`` for bona fide, any other string is the attack type. Bona fide
        presentations are ignored here; at least one attack is needed.
    threshold : float
        Score ``>= threshold`` is classified attack, ``< threshold`` bona fide.

    Returns
    -------
    Apcer
        ``per_type[t]`` = fraction of type ``t`` attacks with score < threshold;
        ``max`` over types (ISO/IEC 30107-3 APCER of the system) and the ``worst`` type.

    Examples
    --------
    >>> r = apcer([0.9, 0.2, 0.8, 0.3, 0.1], ["print", "print", "replay", "replay", "live"],
    ...           threshold=0.5)
    >>> r.per_type, r.max, r.worst
    ({'print': 0.5, 'replay': 0.5}, 0.5, 'print')
    """
    s, y = _check_pair(scores, labels, need_bona_fide=False, need_attacks=True)
    t = _check_threshold(threshold)
    per_type = {}
    for kind in sorted(set(y.tolist()) - {BONA_FIDE}):
        per_type[kind] = float(np.mean(s[y == kind] < t))
    worst = max(per_type, key=per_type.__getitem__)  # first in sorted order on ties
    return Apcer(per_type=per_type, max=per_type[worst], worst=worst)


def bpcer(scores, labels, *, threshold: float) -> float:
    """Bona fide presentation classification error rate: bona fide classified as attack.

    Parameters
    ----------
    scores : array_like, shape (N,), float
        One score per presentation; higher = more likely an attack.
    labels : array_like, shape (N,), str
        ``"live"`` for bona fide (at least one needed); attacks are ignored here.
    threshold : float
        Score ``>= threshold`` is classified attack.

    Returns
    -------
    float
        Fraction of bona fide presentations with score >= threshold.

    Examples
    --------
    >>> bpcer([0.1, 0.5, 0.7, 0.9], ["live", "live", "live", "print"], threshold=0.5)
    0.6666666666666666
    """
    s, y = _check_pair(scores, labels, need_bona_fide=True, need_attacks=False)
    t = _check_threshold(threshold)
    return float(np.mean(s[y == BONA_FIDE] >= t))


def acer(scores, labels, *, threshold: float) -> float:
    """Average classification error rate: ``(APCER_max + BPCER) / 2``.

    Parameters
    ----------
    scores : array_like, shape (N,), float
        One score per presentation; higher = more likely an attack.
    labels : array_like, shape (N,), str
        ``"live"`` or an attack type; both bona fide and attacks needed.
    threshold : float
        Score ``>= threshold`` is classified attack.

    Returns
    -------
    float
        Mean of the worst attack type's APCER and the BPCER.

    Examples
    --------
    >>> acer([0.1, 0.6, 0.4, 0.9, 0.8], ["live", "live", "print", "replay", "replay"],
    ...      threshold=0.5)   # APCER print 1, replay 0 -> max 1; BPCER 1/2
    0.75
    """
    s, y = _check_pair(scores, labels, need_bona_fide=True, need_attacks=True)
    return (apcer(s, y, threshold=threshold).max + bpcer(s, y, threshold=threshold)) / 2


def far_frr(scores, labels, *, threshold: float) -> tuple[float, float]:
    """False acceptance and false rejection rates with all attack types pooled.

    Parameters
    ----------
    scores : array_like, shape (N,), float
        One score per presentation; higher = more likely an attack.
    labels : array_like, shape (N,), str
        ``"live"`` or an attack type; both bona fide and attacks needed.
    threshold : float
        Score ``>= threshold`` is classified attack.

    Returns
    -------
    far : float
        Fraction of all attacks with score < threshold (accepted as bona fide).
    frr : float
        Fraction of bona fide with score >= threshold (rejected); equals the BPCER.

    Examples
    --------
    >>> far_frr([0.1, 0.6, 0.4, 0.9, 0.8], ["live", "live", "print", "replay", "replay"],
    ...         threshold=0.5)
    (0.3333333333333333, 0.5)
    """
    s, y = _check_pair(scores, labels, need_bona_fide=True, need_attacks=True)
    t = _check_threshold(threshold)
    live = y == BONA_FIDE
    return float(np.mean(s[~live] < t)), float(np.mean(s[live] >= t))


def hter(scores, labels, *, threshold: float) -> float:
    """Half total error rate ``(FAR + FRR) / 2``, attacks pooled over types.

    Parameters
    ----------
    scores : array_like, shape (N,), float
        One score per presentation; higher = more likely an attack.
    labels : array_like, shape (N,), str
        ``"live"`` or an attack type; both bona fide and attacks needed.
    threshold : float
        Score ``>= threshold`` is classified attack.

    Returns
    -------
    float
        Half total error rate; see :func:`far_frr`.

    Examples
    --------
    >>> hter([0.1, 0.6, 0.4, 0.9, 0.8], ["live", "live", "print", "replay", "replay"],
    ...      threshold=0.5)   # FAR 1/3, FRR 1/2
    0.41666666666666663
    """
    far, frr = far_frr(scores, labels, threshold=threshold)
    return (far + frr) / 2


# --------------------------------------------------------------------------------------------
# equal error rate
# --------------------------------------------------------------------------------------------

def _eer_from_arrays(s: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    live = y == BONA_FIDE
    bona = np.sort(s[live])
    att = np.sort(s[~live])
    n_b, n_a = len(bona), len(att)
    cand = np.unique(s)  # sorted distinct scores: every reachable operating point
    # Counts at each candidate threshold t (attack iff score >= t), in integers so that ties
    # in the selection criteria are compared exactly.
    fa = np.searchsorted(att, cand, side="left").astype(np.int64)          # attacks < t
    fr = n_b - np.searchsorted(bona, cand, side="left").astype(np.int64)   # bona fide >= t
    # FAR - FRR = fa/n_a - fr/n_b; scaled by n_a * n_b to stay in integers.
    gap = np.abs(fa * n_b - fr * n_a)
    total = fa * n_b + fr * n_a   # 2 * n_a * n_b * HTER
    # lexsort: last key is primary -> min gap, then min HTER, then lowest threshold.
    k = np.lexsort((cand, total, gap))[0]
    return float(total[k] / (2 * n_a * n_b)), float(cand[k])


def eer(scores, labels) -> tuple[float, float]:
    """Equal error rate and its threshold, attacks pooled against bona fide.

    The candidate thresholds are the distinct scores. The EER threshold is the candidate
    minimising ``|FAR - FRR|`` (see :func:`far_frr`); ties go to the smaller
    ``(FAR + FRR) / 2``, then to the lower threshold. The EER is ``(FAR + FRR) / 2`` there, so
    ``hter(scores, labels, threshold=t) == e`` for ``e, t = eer(scores, labels)``. Tied scores
    are never split: a group of equal scores is classified all attack or all bona fide.

    Parameters
    ----------
    scores : array_like, shape (N,), float
        One score per presentation; higher = more likely an attack.
    labels : array_like, shape (N,), str
        ``"live"`` or an attack type; both bona fide and attacks needed.

    Returns
    -------
    eer : float
        Equal error rate in [0, 1].
    threshold : float
        The threshold attaining it (one of the scores; attack iff score >= threshold).

    Examples
    --------
    >>> eer([0.1, 0.2, 0.3, 0.6, 0.4, 0.5, 0.7, 0.8],
    ...     ["live"] * 4 + ["print"] * 4)   # at 0.5: FAR 1/4 (0.4), FRR 1/4 (0.6)
    (0.25, 0.5)
    """
    s, y = _check_pair(scores, labels, need_bona_fide=True, need_attacks=True)
    return _eer_from_arrays(s, y)


def threshold_from_dev(dev_scores, dev_labels) -> float:
    """The EER threshold on a development set, to apply unchanged to a test set.

    Parameters
    ----------
    dev_scores : array_like, shape (N,), float
        Development-set scores; higher = more likely an attack.
    dev_labels : array_like, shape (N,), str
        ``"live"`` or an attack type; both needed.

    Returns
    -------
    float
        ``eer(dev_scores, dev_labels)[1]``.

    Examples
    --------
    >>> threshold_from_dev([0.1, 0.3, 0.6, 0.9], ["live", "live", "print", "replay"])
    0.6
    """
    s, y = _check_pair(dev_scores, dev_labels, need_bona_fide=True, need_attacks=True,
                       names=("dev_scores", "dev_labels"))
    return _eer_from_arrays(s, y)[1]


# --------------------------------------------------------------------------------------------
# threshold-free: AUC, TPR at a fixed FPR
# --------------------------------------------------------------------------------------------

def _auc_from_arrays(s: np.ndarray, y: np.ndarray) -> float:
    live = y == BONA_FIDE
    bona = np.sort(s[live])
    att = s[~live]
    below = np.searchsorted(bona, att, side="left")  # bona fide strictly below each attack
    ties = np.searchsorted(bona, att, side="right") - below
    return float((below.sum() + 0.5 * ties.sum()) / (len(att) * len(bona)))


def auc(scores, labels) -> float:
    """Area under the ROC curve, attacks (any type) as positives against bona fide.

    Parameters
    ----------
    scores : array_like, shape (N,), float
        One score per presentation; higher = more likely an attack.
    labels : array_like, shape (N,), str
        ``"live"`` or an attack type; both needed.

    Returns
    -------
    float in [0, 1]: P(attack score > bona fide score) + P(equal) / 2; 1 = perfect, 0.5 = chance.

    Examples
    --------
    >>> auc([0.1, 0.4, 0.35, 0.8], ["live", "live", "print", "print"])   # 3 of 4 pairs ordered
    0.75
    """
    s, y = _check_pair(scores, labels, need_bona_fide=True, need_attacks=True)
    return _auc_from_arrays(s, y)


def _tpr_at_fpr_from_arrays(s: np.ndarray, y: np.ndarray, fpr: float) -> float:
    live = y == BONA_FIDE
    bona, att = s[live], s[~live]
    cand = np.append(np.unique(s), np.inf)  # inf: reject nothing
    fp = (bona[None, :] >= cand[:, None]).mean(1)
    tp = (att[None, :] >= cand[:, None]).mean(1)
    return float(tp[fp <= fpr + 1e-12].max())


def tpr_at_fpr(scores, labels, *, fpr: float = 0.01) -> float:
    """Fraction of attacks detected at the best threshold that rejects at most ``fpr`` of bona fide.

    Parameters
    ----------
    scores : array_like, shape (N,), float
        One score per presentation; higher = more likely an attack.
    labels : array_like, shape (N,), str
        ``"live"`` or an attack type; both needed.
    fpr : float in [0, 1]
        Largest allowed fraction of bona fide presentations classified attack (BPCER).

    Returns
    -------
    float in [0, 1]: max over thresholds tau (the observed scores and +inf) with
    #{bona fide >= tau} / n_bona_fide <= fpr of #{attacks >= tau} / n_attacks.

    Examples
    --------
    >>> tpr_at_fpr([0.1, 0.2, 0.9, 0.15, 0.5, 0.95], ["live"] * 3 + ["print"] * 3)  # tau 0.95: 1 of 3
    0.3333333333333333
    >>> tpr_at_fpr([0.1, 0.2, 0.9, 0.15, 0.5, 0.95], ["live"] * 3 + ["print"] * 3, fpr=0.34)  # tau 0.5
    0.6666666666666666
    """
    s, y = _check_pair(scores, labels, need_bona_fide=True, need_attacks=True)
    f = _check_threshold(fpr, "fpr")
    if not 0 <= f <= 1:
        raise ValueError(f"fpr: expected a rate in [0, 1], got {f}")
    return _tpr_at_fpr_from_arrays(s, y, f)


#: Fewer presentations of a kind than this in a split make its rates coarse (steps of >= 10 %).
MIN_PRESENTATIONS = 10


def small_split_warnings(counts: dict[str, int], *, minimum: int = MIN_PRESENTATIONS) -> list[str]:
    """Warnings for a split too small for its rates to mean much.

    Parameters
    ----------
    counts : dict, label -> number of presentations (``Report.counts``)
    minimum : int

    Returns
    -------
    list of str, one per label with fewer than ``minimum`` presentations (a rate over n of
    them moves in steps of 1/n), and one when TPR at FPR = 1 % cannot reject any bona fide.

    Examples
    --------
    >>> small_split_warnings({"live": 1, "print": 40})[0]
    'only 1 live presentation(s): BPCER moves in steps of 100 %; the metrics mean little'
    """
    out = []
    for label, n in sorted(counts.items()):
        if n < minimum:
            rate = "BPCER" if label == BONA_FIDE else f"APCER({label})"
            out.append(f"only {n} {label} presentation(s): {rate} moves in steps of {100 / n:.3g} %; "
                       "the metrics mean little")
    if 0 < counts.get(BONA_FIDE, 0) < 100:
        out.append(f"TPR@FPR=1% with {counts[BONA_FIDE]} bona fide presentations is TPR at FPR = 0")
    return out


# --------------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Report:
    """All PAD metrics of one evaluation at one threshold.

    Attributes
    ----------
    apcer_per_type : dict[str, float]
        APCER of each attack type in the test set.
    apcer : float
        Max of ``apcer_per_type`` (APCER of the PAD system).
    apcer_worst : str
        The attack type attaining ``apcer``.
    bpcer, acer, hter : float
        At ``threshold``; ``acer`` uses ``apcer`` (the max), ``hter`` pools attacks.
    far, frr : float
        Pooled-attack FAR and FRR at ``threshold`` (``hter`` is their mean; ``frr == bpcer``).
    eer : float
        Equal error rate of the test scores (threshold-free; its own threshold is
        ``eer_threshold``).
    eer_threshold : float
        The threshold attaining ``eer`` on the test scores.
    auc : float
        Area under the ROC curve of the test scores (threshold-free).
    tpr_at_fpr1 : float
        Fraction of attacks detected at FPR (BPCER) <= 1 % on the test scores.
    threshold : float
        The threshold every fixed-threshold metric above uses (attack iff score >= it).
    threshold_source : {"given", "dev-eer", "test-eer"}
        Where ``threshold`` came from: the caller, the EER threshold of the development set,
        or the EER threshold of the test set itself (optimistic: tuned on the test data).
    counts : dict[str, int]
        Number of presentations per label, keys sorted.
    """

    apcer_per_type: dict[str, float]
    apcer: float
    apcer_worst: str
    bpcer: float
    acer: float
    far: float
    frr: float
    hter: float
    eer: float
    eer_threshold: float
    auc: float
    tpr_at_fpr1: float
    threshold: float
    threshold_source: ThresholdSource
    counts: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """Plain ``dict`` of built-in types (``json.dumps`` works on it directly)."""
        return asdict(self)


def evaluate(scores, labels, *, threshold: float | None = None, dev_scores=None,
             dev_labels=None) -> Report:
    """Every PAD metric of the test scores at one threshold, and where the threshold came from.

    The threshold is ``threshold`` when given (source ``"given"``); else the EER threshold of
    ``dev_scores``/``dev_labels`` (``"dev-eer"``, the protocol of SiW and OULU-NPU); else the
    EER threshold of the test scores themselves (``"test-eer"``, optimistic). Giving both a
    threshold and a development set is an error, as is giving only one of the dev arrays.

    Parameters
    ----------
    scores : array_like, shape (N,), float
        Test scores, one per presentation; higher = more likely an attack.
    labels : array_like, shape (N,), str
        ``"live"`` or an attack type; both bona fide and attacks needed.
    threshold : float, optional
        Explicit threshold (attack iff score >= threshold).
    dev_scores : array_like, shape (M,), float, optional
        Development-set scores whose EER threshold is applied to the test scores.
    dev_labels : array_like, shape (M,), str, optional
        Labels of ``dev_scores``; both bona fide and attacks needed.

    Returns
    -------
    Report

    Examples
    --------
    >>> r = evaluate([0.1, 0.2, 0.3, 0.6, 0.4, 0.5, 0.7, 0.8],
    ...              ["live"] * 4 + ["print", "print", "replay", "replay"])
    >>> r.threshold_source, r.threshold, r.eer, r.apcer_per_type, r.bpcer
    ('test-eer', 0.5, 0.25, {'print': 0.5, 'replay': 0.0}, 0.25)
    """
    s, y = _check_pair(scores, labels, need_bona_fide=True, need_attacks=True)
    has_dev = (dev_scores is not None, dev_labels is not None)
    if has_dev[0] != has_dev[1]:
        missing = "dev_labels" if has_dev[0] else "dev_scores"
        raise ValueError(f"{missing}: required when "
                         f"{'dev_scores' if has_dev[0] else 'dev_labels'} is given")
    if threshold is not None and has_dev[0]:
        raise ValueError("threshold: give either an explicit threshold or a development set "
                         "(dev_scores, dev_labels), not both")

    test_eer, test_eer_t = _eer_from_arrays(s, y)
    source: ThresholdSource
    if threshold is not None:
        t, source = _check_threshold(threshold), "given"
    elif has_dev[0]:
        t, source = threshold_from_dev(dev_scores, dev_labels), "dev-eer"
    else:
        t, source = test_eer_t, "test-eer"

    a = apcer(s, y, threshold=t)
    far, frr = far_frr(s, y, threshold=t)
    names, n = np.unique(y, return_counts=True)
    return Report(
        apcer_per_type=a.per_type,
        apcer=a.max,
        apcer_worst=a.worst,
        bpcer=frr,
        acer=(a.max + frr) / 2,
        far=far,
        frr=frr,
        hter=(far + frr) / 2,
        eer=test_eer,
        eer_threshold=test_eer_t,
        auc=_auc_from_arrays(s, y),
        tpr_at_fpr1=_tpr_at_fpr_from_arrays(s, y, 0.01),
        threshold=t,
        threshold_source=source,
        counts={str(k): int(v) for k, v in zip(names, n)},
    )


# --------------------------------------------------------------------------------------------
# clip -> video scores
# --------------------------------------------------------------------------------------------

def video_scores(clip_video_ids: Sequence[Hashable], clip_scores) -> dict[Hashable, float]:
    """Mean score per video over its clips.

    Parameters
    ----------
    clip_video_ids : sequence, length C
        The video id of each clip (e.g. ``"Test/live/003/003-1-1-1-1"``); any hashable.
    clip_scores : array_like, shape (C,), float
        The score of each clip; finite.

    Returns
    -------
    dict
        ``{video_id: mean of its clips' scores}`` as Python floats, videos in order of first
        appearance.

    Examples
    --------
    >>> video_scores(["a", "b", "a", "a"], [0.2, 0.5, 0.4, 0.9])
    {'a': 0.5, 'b': 0.5}
    """
    s = _check_scores(clip_scores, "clip_scores")
    # ndarray -> Python scalars, so keys are plain str/int rather than numpy scalars
    if isinstance(clip_video_ids, np.ndarray):
        ids = clip_video_ids.tolist()
    else:
        ids = list(clip_video_ids)
    if len(ids) != len(s):
        raise ValueError(f"clip_video_ids: length {len(ids)} does not match clip_scores "
                         f"length {len(s)}")
    if not ids:
        raise ValueError("clip_scores: empty, no clips to average")
    index: dict[Hashable, int] = {}
    try:
        inv = np.fromiter((index.setdefault(v, len(index)) for v in ids), dtype=np.int64,
                          count=len(ids))
    except TypeError as e:
        raise ValueError(f"clip_video_ids: ids must be hashable ({e})") from None
    sums = np.bincount(inv, weights=s, minlength=len(index))
    counts = np.bincount(inv, minlength=len(index))
    means = sums / counts
    return {v: float(means[i]) for v, i in index.items()}
