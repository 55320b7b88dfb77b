"""PAD metrics (fasmodel.metrics) on small cases worked out by hand.

Convention under test: higher score = more likely an attack; score >= threshold -> attack.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from fasmodel.metrics import (
    Apcer,
    Report,
    acer,
    apcer,
    auc,
    bpcer,
    eer,
    evaluate,
    far_frr,
    hter,
    small_split_warnings,
    threshold_from_dev,
    tpr_at_fpr,
    video_scores,
)

approx = pytest.approx

# Case A: 4 live, 3 print, 3 replay.
LIVE_A = [0.1, 0.2, 0.3, 0.6]
PRINT_A = [0.4, 0.7, 0.9]
REPLAY_A = [0.2, 0.45, 0.8]
SCORES_A = LIVE_A + PRINT_A + REPLAY_A
LABELS_A = ["live"] * 4 + ["print"] * 3 + ["replay"] * 3

# Case B, a clean EER crossing: 4 live, 4 print.
SCORES_B = [0.1, 0.2, 0.3, 0.6, 0.4, 0.5, 0.7, 0.8]
LABELS_B = ["live"] * 4 + ["print"] * 4


# --------------------------------------------------------------------------------------------
# fixed threshold
# --------------------------------------------------------------------------------------------

def test_case_a_at_threshold_half():
    # tau = 0.5, attack iff score >= 0.5.
    # print  [0.4, 0.7, 0.9]: 0.4 < 0.5 passes as bona fide   -> APCER print  = 1/3
    # replay [0.2, 0.45, 0.8]: 0.2 and 0.45 pass              -> APCER replay = 2/3
    # APCER (system) = max = 2/3, worst type replay
    # live [0.1, 0.2, 0.3, 0.6]: 0.6 >= 0.5 rejected          -> BPCER = 1/4
    # ACER = (2/3 + 1/4) / 2 = 11/24
    # pooled: 3 of 6 attacks pass -> FAR = 1/2; FRR = 1/4     -> HTER = 3/8
    a = apcer(SCORES_A, LABELS_A, threshold=0.5)
    assert isinstance(a, Apcer)
    assert a.per_type == {"print": approx(1 / 3), "replay": approx(2 / 3)}
    assert list(a.per_type) == ["print", "replay"]
    assert a.max == approx(2 / 3)
    assert a.worst == "replay"
    assert bpcer(SCORES_A, LABELS_A, threshold=0.5) == approx(1 / 4)
    assert acer(SCORES_A, LABELS_A, threshold=0.5) == approx(11 / 24)
    assert far_frr(SCORES_A, LABELS_A, threshold=0.5) == approx((1 / 2, 1 / 4))
    assert hter(SCORES_A, LABELS_A, threshold=0.5) == approx(3 / 8)


def test_apcer_is_max_over_types_not_pooled():
    # 10 prints all caught (0.9), 1 replay missed (0.1); tau = 0.5.
    # pooled attacks: 1/11 pass; per type: print 0, replay 1 -> APCER = 1, ACER = (1 + 0) / 2.
    scores = [0.2, 0.3] + [0.9] * 10 + [0.1]
    labels = ["live", "live"] + ["print"] * 10 + ["replay"]
    a = apcer(scores, labels, threshold=0.5)
    assert a.per_type == {"print": 0.0, "replay": 1.0}
    assert a.max == 1.0 and a.worst == "replay"
    far, frr = far_frr(scores, labels, threshold=0.5)
    assert far == approx(1 / 11) and frr == 0.0
    assert acer(scores, labels, threshold=0.5) == approx(0.5)
    assert hter(scores, labels, threshold=0.5) == approx(1 / 22)


def test_any_non_live_label_is_an_attack_type():
    # "mask3d" is just another type; "Live" (capitalised) is not bona fide.
    a = apcer([0.1, 0.2, 0.9, 0.9], ["live", "mask3d", "Live", "print"], threshold=0.5)
    assert a.per_type == {"Live": 0.0, "mask3d": 1.0, "print": 0.0}


def test_worst_type_on_equal_apcer_is_first_in_sorted_order():
    a = apcer([0.1, 0.1, 0.9], ["replay", "print", "live"], threshold=0.5)
    assert a.per_type == {"print": 1.0, "replay": 1.0}
    assert a.worst == "print"


@pytest.mark.parametrize(
    ("threshold", "expected_bpcer", "expected_apcer"),
    [
        (0.5, 1.0, 0.0),                 # score == tau is an attack: live rejected, attack caught
        (np.nextafter(0.5, 1), 0.0, 1.0),  # just above: both classified bona fide
    ],
)
def test_score_equal_to_threshold_is_an_attack(threshold, expected_bpcer, expected_apcer):
    scores, labels = [0.5, 0.5], ["live", "print"]
    assert bpcer(scores, labels, threshold=threshold) == expected_bpcer
    assert apcer(scores, labels, threshold=threshold).max == expected_apcer


def test_apcer_needs_no_bona_fide_and_bpcer_needs_no_attacks():
    assert apcer([0.1, 0.9], ["print", "print"], threshold=0.5).max == 0.5
    assert bpcer([0.1, 0.9], ["live", "live"], threshold=0.5) == 0.5


# --------------------------------------------------------------------------------------------
# EER
# --------------------------------------------------------------------------------------------

def test_eer_clean_crossing():
    # live [0.1, 0.2, 0.3, 0.6], print [0.4, 0.5, 0.7, 0.8]
    #   tau   FAR (attacks < tau)  FRR (live >= tau)  |FAR-FRR|
    #   0.4   0/4                  1/4 (0.6)          1/4
    #   0.5   1/4 (0.4)            1/4 (0.6)          0        <- EER = 1/4 at 0.5
    #   0.6   2/4                  1/4                1/4
    assert eer(SCORES_B, LABELS_B) == approx((0.25, 0.5))


def test_eer_tied_gap_goes_to_smaller_hter():
    # Case A, attacks pooled (6) vs live (4):
    #   tau   FAR          FRR          |FAR-FRR|   HTER
    #   0.3   1/6 (.2)     2/4 (.3,.6)  1/3
    #   0.4   1/6 (.2)     1/4 (.6)     1/12        5/24   <- chosen: smaller HTER
    #   0.45  2/6 (.2,.4)  1/4          1/12        7/24
    #   0.6   3/6          1/4          1/4
    e, t = eer(SCORES_A, LABELS_A)
    assert t == 0.4
    assert e == approx(5 / 24)


def test_eer_tied_scores_are_never_split():
    # live [0.1, 0.3, 0.3, 0.3], attacks [0.3, 0.3, 0.7, 0.9]: five presentations tie at 0.3.
    #   tau  FAR        FRR               |FAR-FRR|
    #   0.1  0          1                 1
    #   0.3  0          3/4 (all three)   3/4
    #   0.7  2/4 (.3s)  0                 1/2     <- EER = (1/2 + 0) / 2 = 1/4
    #   0.9  3/4        0                 3/4
    # Splitting the tie (live 0.3s accepted, attack 0.3s rejected) would give a spurious 0.
    scores = [0.1, 0.3, 0.3, 0.3, 0.3, 0.3, 0.7, 0.9]
    labels = ["live"] * 4 + ["print", "replay", "print", "replay"]
    assert eer(scores, labels) == approx((0.25, 0.7))


def test_eer_tie_in_gap_and_hter_goes_to_lower_threshold():
    # live [0.2, 0.5, 0.5], print [0.5, 0.5, 0.8]
    #   tau  FAR  FRR  |FAR-FRR|  HTER
    #   0.2  0    1    1          1/2
    #   0.5  0    2/3  2/3        1/3   <- tie with 0.8 on both; lower threshold wins
    #   0.8  2/3  0    2/3        1/3
    scores = [0.2, 0.5, 0.5, 0.5, 0.5, 0.8]
    labels = ["live"] * 3 + ["print"] * 3
    assert eer(scores, labels) == approx((1 / 3, 0.5))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_eer_does_not_depend_on_order(seed):
    rng = np.random.default_rng(seed)
    scores = np.array([0.1, 0.3, 0.3, 0.3, 0.3, 0.3, 0.7, 0.9])
    labels = np.array(["live"] * 4 + ["print", "replay", "print", "replay"])
    p = rng.permutation(len(scores))
    assert eer(scores[p], labels[p]) == approx((0.25, 0.7))


@pytest.mark.parametrize(
    ("scores", "labels", "expected"),
    [
        # perfect separation: at 0.6 nothing is misclassified
        ([0.1, 0.2, 0.3, 0.6, 0.7], ["live"] * 3 + ["print", "replay"], (0.0, 0.6)),
        # perfectly wrong: at every tau either FAR or FRR is 1; gap 0 only at 0.8 (both 1)
        ([0.8, 0.9, 0.1, 0.2], ["live", "live", "print", "print"], (1.0, 0.8)),
        # all scores equal: the one threshold rejects everything -> FAR 0, FRR 1
        ([0.5, 0.5, 0.5], ["live", "print", "replay"], (0.5, 0.5)),
    ],
)
def test_eer_extremes(scores, labels, expected):
    assert eer(scores, labels) == approx(expected)


def test_perfect_separation_gives_zero_acer_at_the_eer_threshold():
    scores = [0.1, 0.2, 0.3, 0.6, 0.7]
    labels = ["live"] * 3 + ["print", "replay"]
    e, t = eer(scores, labels)
    assert e == 0.0
    assert acer(scores, labels, threshold=t) == 0.0
    assert hter(scores, labels, threshold=t) == 0.0


def _eer_by_definition(scores, labels):
    """The documented definition, written out the slow way."""
    best = None
    for t in sorted(set(scores)):
        far, frr = far_frr(scores, labels, threshold=t)
        key = (round(abs(far - frr), 12), round((far + frr) / 2, 12), t)
        best = min(best, key) if best else key
    return best[1], best[2]


@pytest.mark.parametrize("seed", range(5))
def test_eer_matches_its_definition_and_hter_at_its_threshold(seed):
    rng = np.random.default_rng(seed)
    n = 40
    labels = rng.choice(["live", "print", "replay"], size=n).tolist()
    # few distinct values, so ties between and within classes are common
    scores = np.round(rng.normal(size=n) + 0.8 * (np.array(labels) != "live"), 1).tolist()
    e, t = eer(scores, labels)
    assert (e, t) == approx(_eer_by_definition(scores, labels))
    assert hter(scores, labels, threshold=t) == approx(e)


def test_threshold_from_dev_is_the_dev_eer_threshold():
    assert threshold_from_dev(SCORES_B, LABELS_B) == 0.5
    assert threshold_from_dev(SCORES_A, LABELS_A) == 0.4


# --------------------------------------------------------------------------------------------
# evaluate
# --------------------------------------------------------------------------------------------

def test_evaluate_with_dev_uses_dev_eer_threshold():
    # dev = case B (EER threshold 0.5); test = case A, so the fixed-threshold metrics are those
    # of test_case_a_at_threshold_half, and the test EER is case A's (5/24 at 0.4).
    r = evaluate(SCORES_A, LABELS_A, dev_scores=SCORES_B, dev_labels=LABELS_B)
    assert isinstance(r, Report)
    assert r.threshold_source == "dev-eer"
    assert r.threshold == 0.5
    assert r.apcer_per_type == {"print": approx(1 / 3), "replay": approx(2 / 3)}
    assert r.apcer == approx(2 / 3) and r.apcer_worst == "replay"
    assert r.bpcer == approx(1 / 4)
    assert r.acer == approx(11 / 24)
    assert (r.far, r.frr) == approx((1 / 2, 1 / 4))
    assert r.hter == approx(3 / 8)
    assert (r.eer, r.eer_threshold) == approx((5 / 24, 0.4))
    assert r.counts == {"live": 4, "print": 3, "replay": 3}


def test_evaluate_without_dev_uses_test_eer_threshold():
    # Case A at its own EER threshold 0.4:
    #   print [0.4, 0.7, 0.9]: none < 0.4 -> 0;  replay [0.2, 0.45, 0.8]: 0.2 -> 1/3
    #   live: 0.6 >= 0.4 -> BPCER 1/4;  ACER = (1/3 + 1/4) / 2 = 7/24
    #   FAR pooled 1/6 -> HTER = (1/6 + 1/4) / 2 = 5/24 = EER
    r = evaluate(SCORES_A, LABELS_A)
    assert r.threshold_source == "test-eer"
    assert r.threshold == 0.4
    assert r.apcer_per_type == {"print": 0.0, "replay": approx(1 / 3)}
    assert r.apcer == approx(1 / 3)
    assert r.bpcer == approx(1 / 4)
    assert r.acer == approx(7 / 24)
    assert r.hter == approx(5 / 24)
    assert r.eer == approx(5 / 24)


def test_evaluate_with_given_threshold():
    r = evaluate(SCORES_A, LABELS_A, threshold=0.5)
    assert r.threshold_source == "given"
    assert r.threshold == 0.5
    assert r.acer == approx(11 / 24)
    assert r.eer == approx(5 / 24)  # threshold-free, always on the test scores


def test_report_to_dict_is_json_ready():
    d = evaluate(np.array(SCORES_A, dtype=np.float32), np.array(LABELS_A),
                 dev_scores=SCORES_B, dev_labels=LABELS_B).to_dict()
    back = json.loads(json.dumps(d))
    assert back == d
    assert set(d) == {"apcer_per_type", "apcer", "apcer_worst", "bpcer", "acer", "far", "frr",
                      "hter", "eer", "eer_threshold", "auc", "tpr_at_fpr1", "threshold", "threshold_source",
                      "counts"}
    assert d["threshold_source"] == "dev-eer"
    assert d["counts"] == {"live": 4, "print": 3, "replay": 3}
    assert all(type(v) is float for v in d["apcer_per_type"].values())


# --------------------------------------------------------------------------------------------
# AUC, TPR at FPR, HTER at the EER threshold, small splits
# --------------------------------------------------------------------------------------------

def test_auc_case_a_by_hand():
    # attack > live pairs: 0.4 beats 3, 0.7/0.9/0.8 beat 4 each, 0.45 beats 3, 0.2 beats 0.1 and
    # ties 0.2 (a half): 19.5 of 4 * 6 = 24 pairs
    assert auc(SCORES_A, LABELS_A) == approx(19.5 / 24)
    assert evaluate(SCORES_A, LABELS_A).auc == approx(19.5 / 24)


@pytest.mark.parametrize("scores, expected", [
    ([0.1, 0.2, 0.8, 0.9], 1.0),      # every attack above every live
    ([0.8, 0.9, 0.1, 0.2], 0.0),      # reversed
    ([0.5, 0.5, 0.5, 0.5], 0.5),      # all tied
    ([0.1, 0.9, 0.5, 0.95], 0.75),    # 0.5 beats 0.1 only; 0.95 beats both
])
def test_auc_extremes_and_ties(scores, expected):
    assert auc(scores, ["live", "live", "print", "replay"]) == approx(expected)


@pytest.mark.parametrize("seed", range(5))
def test_auc_matches_all_pairs(seed):
    rng = np.random.default_rng(seed)
    s = rng.integers(0, 6, 30).astype(float)  # many ties
    y = np.where(rng.random(30) < 0.4, "live", "print")
    y[:2] = ["live", "print"]
    live, att = s[y == "live"], s[y != "live"]
    pairs = [(a > b) + 0.5 * (a == b) for a in att for b in live]
    assert auc(s, y) == approx(np.mean(pairs))


def test_tpr_at_fpr_case_a_by_hand():
    # FPR <= 1 % with 4 live = reject none: tau above 0.6, best 0.7 -> attacks 0.7, 0.8, 0.9: 3 of 6
    assert tpr_at_fpr(SCORES_A, LABELS_A) == approx(0.5)
    assert evaluate(SCORES_A, LABELS_A).tpr_at_fpr1 == approx(0.5)
    # FPR <= 25 %: tau 0.4 rejects live 0.6 only, detects 0.4, 0.45, 0.7, 0.8, 0.9: 5 of 6
    assert tpr_at_fpr(SCORES_A, LABELS_A, fpr=0.25) == approx(5 / 6)
    assert tpr_at_fpr(SCORES_A, LABELS_A, fpr=1.0) == 1.0
    with pytest.raises(ValueError, match="fpr"):
        tpr_at_fpr(SCORES_A, LABELS_A, fpr=1.5)


def test_hter_at_eer_threshold_case_a_by_hand():
    # candidates: at 0.4, FAR = attacks < 0.4 = {0.2}: 1/6, FRR = live >= 0.4 = {0.6}: 1/4,
    # |gap| 1/12 (no candidate has a smaller one); HTER = (1/6 + 1/4) / 2 = 5/24
    e, t = eer(SCORES_A, LABELS_A)
    assert (e, t) == (approx(5 / 24), 0.4)
    assert hter(SCORES_A, LABELS_A, threshold=t) == approx(5 / 24)
    r = evaluate(SCORES_A, LABELS_A)
    assert (r.hter, r.far, r.frr) == (approx(5 / 24), approx(1 / 6), approx(1 / 4))


def test_small_split_warnings():
    assert small_split_warnings({"live": 120, "print": 40, "replay": 30}) == []
    w = small_split_warnings({"live": 1, "print": 12, "replay": 3})
    assert len(w) == 3
    assert "1 live" in w[0] and "100 %" in w[0]
    assert "APCER(replay)" in w[1] and "33.3 %" in w[1]
    assert "FPR = 0" in w[2]


def test_evaluate_rejects_threshold_and_dev_together():
    with pytest.raises(ValueError, match=r"^threshold: .*not both"):
        evaluate(SCORES_A, LABELS_A, threshold=0.5, dev_scores=SCORES_B, dev_labels=LABELS_B)


@pytest.mark.parametrize(
    ("kwargs", "missing"),
    [({"dev_scores": SCORES_B}, "dev_labels"), ({"dev_labels": LABELS_B}, "dev_scores")],
)
def test_evaluate_needs_both_dev_arrays(kwargs, missing):
    with pytest.raises(ValueError, match=rf"^{missing}: required"):
        evaluate(SCORES_A, LABELS_A, **kwargs)


def test_evaluate_names_the_bad_dev_argument():
    with pytest.raises(ValueError, match=r"^dev_scores: 1 non-finite"):
        evaluate(SCORES_A, LABELS_A, dev_scores=[0.1, np.nan], dev_labels=["live", "print"])
    with pytest.raises(ValueError, match=r"^dev_labels: no attack"):
        evaluate(SCORES_A, LABELS_A, dev_scores=[0.1, 0.2], dev_labels=["live", "live"])


# --------------------------------------------------------------------------------------------
# video_scores
# --------------------------------------------------------------------------------------------

def test_video_scores_mean_per_video_in_first_seen_order():
    # v1: (0.1 + 0.4 + 0.7) / 3 = 0.4;  v2: 0.5;  v3: (0.9 + 0.3) / 2 = 0.6
    ids = ["v1", "v2", "v1", "v3", "v1", "v3"]
    out = video_scores(ids, [0.1, 0.5, 0.4, 0.9, 0.7, 0.3])
    assert list(out) == ["v1", "v2", "v3"]
    assert out == {"v1": approx(0.4), "v2": approx(0.5), "v3": approx(0.6)}


def test_video_scores_accepts_arrays_and_returns_plain_types():
    out = video_scores(np.array(["Test/live/003/003-1-1-1-1", "b", "b"]),
                       np.array([1, 2, 4], dtype=np.int32))
    assert out == {"Test/live/003/003-1-1-1-1": 1.0, "b": 3.0}
    assert all(type(k) is str and type(v) is float for k, v in out.items())


@pytest.mark.parametrize(
    ("ids", "scores", "match"),
    [
        (["a", "b"], [0.1], r"^clip_video_ids: length 2 does not match clip_scores length 1"),
        (["a", "b"], [0.1, np.nan], r"^clip_scores: 1 non-finite"),
        ([], [], r"^clip_scores: empty"),
        ([["a"], ["b"]], [0.1, 0.2], r"^clip_video_ids: ids must be hashable"),
    ],
)
def test_video_scores_validation(ids, scores, match):
    with pytest.raises(ValueError, match=match):
        video_scores(ids, scores)


# --------------------------------------------------------------------------------------------
# validation shared by the metrics
# --------------------------------------------------------------------------------------------

def _call(fn, scores, labels):
    if fn in (eer, evaluate):
        return fn(scores, labels)
    return fn(scores, labels, threshold=0.5)


ALL = [apcer, bpcer, acer, far_frr, hter, eer, evaluate]
NEED_BONA_FIDE = [bpcer, acer, far_frr, hter, eer, evaluate]
NEED_ATTACKS = [apcer, acer, far_frr, hter, eer, evaluate]


@pytest.mark.parametrize("fn", ALL)
def test_mismatched_lengths(fn):
    with pytest.raises(ValueError, match=r"^labels: length 2 does not match scores length 3"):
        _call(fn, [0.1, 0.2, 0.3], ["live", "print"])


@pytest.mark.parametrize("fn", ALL)
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_scores(fn, bad):
    with pytest.raises(ValueError, match=r"^scores: 1 non-finite score\(s\).*index 1"):
        _call(fn, [0.1, bad, 0.3], ["live", "print", "replay"])


@pytest.mark.parametrize("fn", NEED_BONA_FIDE)
def test_no_bona_fide(fn):
    with pytest.raises(ValueError, match=r"^labels: no bona fide .*\['print', 'replay'\]"):
        _call(fn, [0.1, 0.9], ["print", "replay"])


@pytest.mark.parametrize("fn", NEED_ATTACKS)
def test_no_attacks(fn):
    with pytest.raises(ValueError, match=r"^labels: no attack presentations"):
        _call(fn, [0.1, 0.9], ["live", "live"])


@pytest.mark.parametrize("fn", ALL)
def test_empty_input_reports_the_missing_class(fn):
    with pytest.raises(ValueError, match=r"^labels: no (bona fide|attack)"):
        _call(fn, [], [])


@pytest.mark.parametrize(
    ("scores", "labels", "match"),
    [
        ([0, 1], [0, 1], r"^labels: expected string labels .*got dtype int64"),
        ([0.1, 0.9], np.array(["live", 1], dtype=object),
         r"^labels: expected string labels, got values of type int"),
        ([[0.1, 0.9]], ["live", "print"], r"^scores: expected a 1-D array .*shape \(1, 2\)"),
        (["a", "b"], ["live", "print"], r"^scores: expected real numbers"),
    ],
)
def test_bad_types_and_shapes(scores, labels, match):
    with pytest.raises(ValueError, match=match):
        hter(scores, labels, threshold=0.5)


@pytest.mark.parametrize("threshold", [np.nan, np.inf, "high", None])
def test_bad_threshold(threshold):
    with pytest.raises(ValueError, match=r"^threshold: "):
        acer(SCORES_A, LABELS_A, threshold=threshold)
