"""Cross-dataset protocols (`fasprep protocols cross`) over placeholder builds of the full releases.

The builds are manifests only, written here with the releases' official sizes (FAS_DATASETS.md
sections 1-4 and 6): MSU-MFSD 15 train / 20 test subjects of 2 live + 6 attack videos;
CASIA-FASD 20 train / 30 test subjects of 3 live + 9 attack; Replay-Attack 15 train, 15 dev,
20 test clients of 4 live + 20 attack; OULU-NPU 20 Train, 15 Dev, 20 Test users of 6 phones x
3 sessions x (1 live + 4 attack). The expected memberships are derived below from these lists
alone, not by the code under test.
"""

from __future__ import annotations

import functools
import json

import pytest
from click.testing import CliRunner

from fasprep.cli import main
from fasprep.datasets import read_protocol
from fasprep.datasets.cross import write_cross
from fasprep.errors import InputError

# dataset -> split name as the release spells it -> (subjects, live per subject, attacks per subject)
RELEASES = {
    "msu-mfsd": {"train": (15, 2, 6), "test": (20, 2, 6)},
    "casia-fasd": {"train": (20, 3, 9), "test": (30, 3, 9)},
    "replay-attack": {"train": (15, 4, 20), "devel": (15, 4, 20), "test": (20, 4, 20)},
    "oulu-npu": {"Train": (20, 18, 72), "Dev": (15, 18, 72), "Test": (20, 18, 72)},
}
LETTER = {"msu-mfsd": "M", "casia-fasd": "C", "replay-attack": "I", "oulu-npu": "O"}


@functools.lru_cache(maxsize=None)
def placeholder_videos(dataset: str) -> dict:
    videos = {}
    for split, (subjects, n_live, n_attack) in RELEASES[dataset].items():
        for s in range(subjects):
            # subject numbers restart per split, as CASIA's train and test folders do
            for k in range(n_live + n_attack):
                label = "live" if k < n_live else ("print" if k % 2 else "replay")
                videos[f"{split}/{s + 1}/{k}"] = {"status": "ok", "label": label, "attack": label, "split": split,
                                                  "subject": s + 1, "shard": None, "n_frames": 100}
    return videos


def write_build(folder, dataset: str, videos: dict | None = None) -> None:
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps(
        {"format": "fasprep-shards", "version": 2, "dataset": dataset, "config": {}, "config_hash": "h-" + dataset,
         "videos": placeholder_videos(dataset) if videos is None else videos, "shards": []}))


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    root = tmp_path_factory.mktemp("cross")
    for dataset in RELEASES:
        write_build(root / "builds" / dataset, dataset)
    return {LETTER[d]: root / "builds" / d for d in RELEASES}


def members(domain: str, splits: set[str]) -> set[tuple[str, str]]:
    """(domain, video_id) of a placeholder release's videos in the given splits (lower case)."""
    dataset = next(d for d, letter in LETTER.items() if letter == domain)
    return {(domain, v) for v, r in placeholder_videos(dataset).items()
            if r["split"].lower().replace("devel", "dev") in splits}


def rows_of(out, protocol, split):
    rows = read_protocol(out, protocol, split)
    return rows, {(r.domain, r.video_id) for r in rows}


def test_mcio_sizes_and_memberships(builds, tmp_path):
    out = tmp_path / "cross"
    # scrambled order: the domain comes from each manifest
    summary = write_cross([builds["O"], builds["I"], builds["M"], builds["C"]], out)
    sizes = {d: len(members(d, {"train", "test"})) for d in "MCIO"}
    assert sizes == {"M": 280, "C": 600, "I": 840, "O": 3600}  # the spec's MCIO domain sizes
    dataset = {letter: d for d, letter in LETTER.items()}
    live = {d: sum(r["label"] == "live" for r in placeholder_videos(dataset[d]).values()
                   if r["split"].lower() in ("train", "test")) for d in "MCIO"}
    assert live == {"M": 70, "C": 150, "I": 140, "O": 720}
    for target in "MCIO":
        name = f"mcio-to-{target.lower()}"
        sources = set("MCIO") - {target}
        train, train_set = rows_of(out, name, "train")
        test, test_set = rows_of(out, name, "test")
        dev, dev_set = rows_of(out, name, "dev")
        assert train_set == set().union(*(members(d, {"train", "test"}) for d in sources))
        assert len(train) == sum(sizes[d] for d in sources)
        assert test_set == members(target, {"train", "test"}) and len(test) == sizes[target]
        # dev: the sources' own dev videos (Replay devel, OULU Dev), never trained on
        assert dev_set == set().union(*(members(d, {"dev"}) for d in sources & {"I", "O"}))
        assert not dev_set & train_set and {r.domain for r in dev} <= {"I", "O"}
        # every row names its build, relative to the cross folder
        for r in train + test + dev:
            assert (out / r.build).resolve() == builds[r.domain].resolve() and not r.build.startswith("/")
    assert [len(rows_of(out, "mcio-to-o", s)[0]) for s in ("train", "dev", "test")] == [1720, 360, 3600]
    assert [len(rows_of(out, "mcio-to-m", s)[0]) for s in ("train", "dev", "test")] == [5040, 1710, 280]
    counts = summary["protocols"]["mcio-to-c"]["test"]["C"]
    assert counts == {"live": 150, "print": 250, "replay": 200}  # attacks 3-11: odd ones print
    assert json.loads((out / "cross.json").read_text())["builds"]["I"]["dataset"] == "replay-attack"


def test_casia_replay_sizes(builds, tmp_path):
    out = tmp_path / "cross"
    summary = write_cross([builds["I"], builds["C"]], out)  # only the pair: MCIO needs all four
    assert sorted(summary["protocols"]) == ["casia-to-replay", "replay-to-casia"]
    assert any("no build of M (MSU-MFSD), O (OULU-NPU)" in n for n in summary["notes"])
    c2r = {s: rows_of(out, "casia-to-replay", s) for s in ("train", "dev", "test")}
    assert c2r["train"][1] == members("C", {"train"}) and len(c2r["train"][0]) == 240
    assert c2r["dev"][1] == members("C", {"test"})  # CASIA has no dev: its test videos are the held-out ones
    assert c2r["test"][1] == members("I", {"test"}) and len(c2r["test"][0]) == 480
    assert sum(r.label == "live" for r in c2r["test"][0]) == 80
    r2c = {s: rows_of(out, "replay-to-casia", s) for s in ("train", "dev", "test")}
    assert r2c["train"][1] == members("I", {"train"}) and len(r2c["train"][0]) == 360
    assert r2c["dev"][1] == members("I", {"dev"}) and r2c["test"][1] == members("C", {"test"})
    assert len(r2c["test"][0]) == 360


def test_rerun_with_fewer_builds_drops_stale_protocols(builds, tmp_path):
    out = tmp_path / "cross"
    write_cross(list(builds.values()), out)
    assert (out / "protocols" / "mcio-to-m" / "train.csv").is_file()
    write_cross([builds["C"], builds["I"]], out)
    assert sorted(p.name for p in (out / "protocols").iterdir()) == ["casia-to-replay", "replay-to-casia"]


def test_bad_build_sets(builds, tmp_path):
    with pytest.raises(InputError, match="second build of domain C"):
        write_cross([builds["C"], builds["I"], builds["C"]], tmp_path / "a")
    with pytest.raises(InputError, match=r"no cross-dataset protocol from domains M, O.*no build of C"):
        write_cross([builds["O"], builds["M"]], tmp_path / "b")
    write_build(tmp_path / "siw", "siw", {"Train/live/001/001-1-1-1-1": {"label": "live", "split": "Train"}})
    with pytest.raises(InputError, match=r"siw/manifest.json: a build of 'siw', which is no cross-dataset domain"):
        write_cross([builds["C"], tmp_path / "siw"], tmp_path / "c")
    with pytest.raises(InputError, match="is a build folder"):
        write_cross([builds["C"], builds["I"]], builds["O"])
    assert not (builds["O"] / "protocols").exists()


def test_cli(builds, tmp_path):
    out = tmp_path / "cross"
    res = CliRunner().invoke(main, ["protocols", "cross", *map(str, builds.values()), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "mcio-to-i: train 4480 (M 70/210 + C 150/450 + O 720/2880); dev 1350 (O 270/1080); test 840" in res.output
    assert "casia-to-replay: train 240" in res.output
    res = CliRunner().invoke(main, ["protocols", "cross", str(builds["M"]), str(builds["M"]), "--out", str(out)])
    assert res.exit_code == 2 and "second build of domain M" in res.output


def test_fasmodel_reads_the_builds_of_a_cross_folder(builds, tmp_path):
    """The model's shape comes from the builds: they must agree on crops, depth maps and spectrum bins."""
    pytest.importorskip("torch")
    from fasmodel.data import protocol_videos
    from fasmodel.train import build_config_of

    root = tmp_path / "b"
    for d, dataset in (("C", "casia-fasd"), ("I", "replay-attack")):
        (root / d).mkdir(parents=True)
        m = json.loads((builds[d] / "manifest.json").read_text())
        m["config"] = {"crop_size": 64, "depth_size": 8, "rppg_bins": 50, "frame_stride": 1 if d == "C" else 3}
        (root / d / "manifest.json").write_text(json.dumps(m))
    write_cross([root / "C", root / "I"], tmp_path / "cross")
    assert build_config_of(tmp_path / "cross")["crop_size"] == 64
    # keyed by domain (CASIA's train and test ids could meet another build's), each build's own frame stride
    videos = protocol_videos(tmp_path / "cross", "casia-to-replay", "test")
    assert len(videos) == 480 and videos[0].video_id == "I:" + videos[0].build_id
    assert {v.build.resolve() for v in videos} == {(root / "I").resolve()} and videos[0].n_frames == 100
    assert {v.domain for v in protocol_videos(tmp_path / "cross", "casia-to-replay", "train")} == {"C"}
    m = json.loads((root / "I" / "manifest.json").read_text())
    m["config"]["depth_size"] = 16
    (root / "I" / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(ValueError, match="domains C and I differ in depth_size 8 / 16"):
        build_config_of(tmp_path / "cross")


@pytest.mark.parametrize("text, match", [
    ("video_id,label,max_frames,build,domain\nTrain/x,live,,,M\n", "line 2: empty build"),
    ("video_id,label,max_frames,build,domain\nTrain/x,live,\n", "line 2: expected 5 fields, got 3"),
    ("video_id,label,max_frames,build\n", "header is 'video_id,label,max_frames,build'"),
])
def test_read_protocol_malformed_cross_rows(tmp_path, text, match):
    path = tmp_path / "protocols" / "p" / "train.csv"
    path.parent.mkdir(parents=True)
    path.write_text(text)
    with pytest.raises(InputError, match=match):
        read_protocol(tmp_path, "p", "train")


def test_mcio_recipes_load(tmp_path):
    pytest.importorskip("torch")
    from fasmodel.pipeline import load_recipe

    protocols = ["mcio-to-m", "mcio-to-c", "mcio-to-i", "mcio-to-o"]
    for name in ("mcio", "mcio-mock", "pipelines/mcio.toml"):
        recipe = load_recipe(name)
        assert recipe["evaluate"]["protocols"] == protocols
        assert {d: ds["name"] for d, ds in recipe["datasets"].items()} == {
            "M": "msu-mfsd", "C": "casia-fasd", "I": "replay-attack", "O": "oulu-npu"}
    own = tmp_path / "no-cross.toml"
    own.write_text('[datasets.M]\nname = "msu-mfsd"\n[evaluate]\n[output]\n')
    with pytest.raises(ValueError, match=r"missing the \[cross\] table"):
        load_recipe(own)


def _result(protocol, train, target, *, eer, hter, source="dev-eer", seed=0):
    return {"protocol": protocol, "split": "test", "supervision": "auxiliary", "rppg_head": "spectrum", "seed": seed,
            "domains": {"train": train, "dev": ["I"], "test": [target]}, "warnings": [], "skipped": {},
            "metrics": {"eer": eer, "hter": hter, "auc": 0.9, "tpr_at_fpr1": 0.5, "threshold_source": source,
                        "counts": {"live": 4, "print": 3, "replay": 3}}}


def test_cross_table():
    """One row per target in M, C, I, O order: HTER oracle = the test EER, strict = the HTER at the
    sources' dev threshold (none without a dev split), seeds averaged; the policies named below."""
    from fasmodel.report import tables

    results = [_result("mcio-to-o", ["M", "C", "I"], "O", eer=0.10, hter=0.30),
               _result("mcio-to-m", ["C", "I", "O"], "M", eer=0.20, hter=0.25),
               _result("mcio-to-m", ["C", "I", "O"], "M", eer=0.30, hter=0.35, seed=1),
               _result("casia-to-replay", ["C"], "I", eer=0.40, hter=0.0, source="test-eer")]
    table = tables(results)
    rows = [line for line in table.splitlines() if line.startswith("| ") and "→" in line and "Protocol" not in line]
    assert rows == ["| mcio-to-m | C&I&O → M | auxiliary | 10 | 2 | 25.00 ± 7.07 | 30.00 ± 7.07 | 90.00 ± 0.00 | "
                    "50.00 ± 0.00 |",
                    "| casia-to-replay | C → I | auxiliary | 10 | 1 | 40.00 | - | 90.00 | 50.00 |",
                    "| mcio-to-o | M&C&I → O | auxiliary | 10 | 1 | 10.00 | 30.00 | 90.00 | 50.00 |"]
    assert "HTER oracle = at the EER threshold of the target's own test scores" in table
    assert "Note: casia-to-replay: no held-out source videos (dev split), so no strict HTER" in table
    # a build's own protocols keep the protocol table
    own = dict(_result("siw-p1", [], "", eer=0.1, hter=0.1), domains=None, clip_frames=5, stride=1)
    own["metrics"].update(apcer=0.1, bpcer=0.1, acer=0.1)
    assert "| siw-p1 | auxiliary | 1 | 1 |" in tables([own]) and "→" not in tables([own])
