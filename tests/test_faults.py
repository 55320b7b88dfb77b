"""Fault injection: nothing a build finished is lost, whatever happens to it, and the re-run
converges to the content of an uninterrupted build.

Kills at every switch of a pack (a hook on PYTHONPATH that SIGKILLs the process at the Nth
``os.replace``/``os.rename``/``os.unlink`` once packing has begun), full disks (a small tmpfs
where this machine lets the tests mount one, else injected ENOSPC), read-only and unreadable
paths, concurrent builds, Ctrl-C, SIGTERM and SIGKILL, damaged shards, a lost manifest or lost
markers, bad inputs.

A tiny tree (8 SiW videos of one subject, 3 s at 320x240, 64-px crops, 16x16 mesh depth: the
depth source does not matter here) is built once per session; each case works on a copy.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import pytest
import siw_tree
from build_content import assert_same_content, content
from cli_run import fasprep_cli

from fasprep import shards
from fasprep.build import BuildConfig, _locked, build
from fasprep.synth.mock_tree import make_siw_tree

pytestmark = pytest.mark.slow

CONFIG = BuildConfig(depth_source="mesh", crop_size=64, depth_size=16)
CLI_OPTIONS = ["--depth-source", "mesh", "--crop-size", "64", "--depth-size", "16", "--no-progress"]

KILLER = """
# Loaded at start-up by every Python process of the build (PYTHONPATH). Once packing begins,
# the Nth call of the named os functions kills the process (SIGKILL: nothing runs after it).
import os
import signal

import fasprep.build as b

_names, _n = os.environ["FASPREP_TEST_KILL"].split(":")
_state = {"packing": False, "calls": 0}


def _counted(fn):
    def call(*args, **kwargs):
        if _state["packing"]:
            _state["calls"] += 1
            if _state["calls"] == int(_n):
                os.kill(os.getpid(), signal.SIGKILL)
        return fn(*args, **kwargs)
    return call


# CPython 3.10's Path methods call os through an accessor that took the functions at import
_accessor = getattr(__import__("pathlib"), "_NormalAccessor", None)
for _name in _names.split("+"):
    setattr(os, _name, _counted(getattr(os, _name)))
    if _accessor is not None and hasattr(_accessor, _name):
        setattr(_accessor, _name, staticmethod(getattr(os, _name)))
_pack = b.pack


def pack(*args, **kwargs):
    _state["packing"] = True
    return _pack(*args, **kwargs)


b.pack = pack
"""

FAILER = """
# The video of replay medium 1 hits a bug inside a stage (a TypeError): recorded with its traceback.
import fasprep.build as b

_analyse = b.analyse_trace


def analyse_trace(*args, source, **kwargs):
    if "-1-3-1-" in source:
        return _analyse(*args, source=source, window="bad", **kwargs)
    return _analyse(*args, source=source, **kwargs)


b.analyse_trace = analyse_trace
"""

NO_ROOM = """
# Injected full disk (where no tmpfs can be mounted): writes of parts and shards fail with ENOSPC.
import errno
import os

import fasprep.shards as s

_add = s.PartWriter.add_frame


def add_frame(self, crop):
    if self.n_frames + len(self._pending) >= 20:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self.path))
    return _add(self, crop)


s.PartWriter.add_frame = add_frame
s.shutil.disk_usage = lambda path: type("Usage", (), {"free": 0})()
"""


@pytest.fixture(scope="session")
def tiny_tree(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("faults") / "raw"
    ids = [v for v in siw_tree.real_ids(1, 1) if v.startswith("Train/")]
    subjects = sorted({int(v.rsplit("/", 2)[1]) for v in ids})
    make_siw_tree(root, ids, faces=siw_tree.real_faces(subjects), seconds=3.0, size=(320, 240), seed=1)
    return root


@pytest.fixture(scope="session")
def built(tiny_tree, tmp_path_factory) -> Path:
    """A finished build that kept its parts (the state just before its first pack, once the
    manifest and shards are removed)."""
    out = tmp_path_factory.mktemp("faults") / "built"
    result = build("siw", tiny_tree, out, config=CONFIG, workers=2, keep_parts=True, progress=False)
    assert result.n_ok == 8 and result.n_failed == 0
    return out


@pytest.fixture(scope="session")
def clean_content(built) -> dict:
    return content(built)


def copy_build(built: Path, dest: Path, *, parts: bool = False) -> Path:
    """A copy of the finished build; without ``parts`` as a default build leaves it (markers only)."""
    shutil.copytree(built, dest)
    if not parts:
        for p in (dest / "parts").rglob("*.h5"):
            p.unlink()
    return dest


def hook_env(tmp_path: Path, code: str, **extra) -> dict:
    hook = tmp_path / "hook"
    hook.mkdir(exist_ok=True)
    (hook / "sitecustomize.py").write_text(code)
    return dict(os.environ, PYTHONPATH=os.pathsep.join([str(hook), os.environ.get("PYTHONPATH", "")]), **extra)


def assert_converged(out: Path, clean: dict) -> None:
    """Every video there with the clean build's content, `verify` passing, no temp files, no
    shard file that the manifest does not list."""
    assert shards.verify(out) == ([], [])
    assert_same_content(clean, content(out))
    assert not list(out.rglob(".*.tmp*"))
    listed = {s["path"] for s in shards.read_manifest(out)["shards"]}
    assert {p.relative_to(out).as_posix() for p in (out / "shards").glob("*.h5")} == listed


# --- kills while packing ---------------------------------------------------------------------------


@pytest.mark.parametrize("kill", [f"replace+rename:{n}" for n in range(1, 12)] + ["unlink:1", "unlink:6"])
def test_a_kill_at_any_switch_of_a_repack_loses_nothing(built, clean_content, tiny_tree, tmp_path, kill):
    out = copy_build(built, tmp_path / "out")
    # --shard-size 1: one shard per video, 8 new shards to switch to (11 renames in all)
    proc = fasprep_cli("build-siw", tiny_tree, out, *CLI_OPTIONS, "--shard-size", "1",
                       env=hook_env(tmp_path, KILLER, FASPREP_TEST_KILL=kill))
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    # At the instant of the kill the build is consistent: the old one or the new one, complete.
    assert shards.verify(out) == ([], [])
    assert_same_content(clean_content, content(out))
    again = build("siw", tiny_tree, out, config=CONFIG, shard_bytes=1, progress=False)
    assert again.n_processed == 0 and again.n_ok == 8 and again.shards == 8
    assert_converged(out, clean_content)


@pytest.mark.parametrize("n", [1, 5, 9])
def test_a_kill_during_the_first_pack_loses_nothing(built, clean_content, tiny_tree, tmp_path, n):
    out = copy_build(built, tmp_path / "out", parts=True)
    for p in [out / "manifest.json", out / "failures.csv", out / shards.CHECKS_FILE, *(out / "shards").glob("*")]:
        p.unlink()
    proc = fasprep_cli("build-siw", tiny_tree, out, *CLI_OPTIONS, "--shard-size", "1",
                       env=hook_env(tmp_path, KILLER, FASPREP_TEST_KILL=f"replace+rename:{n}"))
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    again = build("siw", tiny_tree, out, config=CONFIG, progress=False)
    assert again.n_processed == 0 and again.n_ok == 8
    assert_converged(out, clean_content)


# --- damaged or lost outputs -------------------------------------------------------------------------


def test_damaged_shards_are_found_and_their_videos_rebuilt(built, clean_content, tiny_tree, tmp_path, caplog):
    out = copy_build(built, tmp_path / "out")
    build("siw", tiny_tree, out, config=CONFIG, shard_bytes=1, progress=False)  # one video per shard
    manifest = shards.read_manifest(out)
    flipped, truncated, pruned = (out / s["path"] for s in manifest["shards"][:3])
    with open(flipped, "r+b") as f:
        f.seek(flipped.stat().st_size // 2)
        byte = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([byte[0] ^ 0x01]))
    os.truncate(truncated, truncated.stat().st_size // 2)
    with h5py.File(pruned, "a") as f:
        del f[shards.group_name(next(v for v, r in manifest["videos"].items()
                                     if r["shard"] == pruned.relative_to(out).as_posix()))]
    again = build("siw", tiny_tree, out, config=CONFIG, shard_bytes=1, progress=False)
    assert again.n_processed == 3 and again.n_ok == 8 and again.exit_code == 0
    warned = " ".join(r.getMessage() for r in caplog.records if r.levelname == "WARNING")
    assert all(p.name in warned for p in (flipped, truncated, pruned)) and "sha256 mismatch" in warned
    assert_converged(out, clean_content)
    # an unchanged re-run keeps the shards as they are
    before = {p.name: p.stat().st_mtime_ns for p in (out / "shards").glob("*.h5")}
    assert build("siw", tiny_tree, out, config=CONFIG, shard_bytes=1, progress=False).n_processed == 0
    assert {p.name: p.stat().st_mtime_ns for p in (out / "shards").glob("*.h5")} == before


def test_a_lost_manifest_or_lost_markers_are_recovered_from_the_shards(built, clean_content, tiny_tree, tmp_path):
    out = copy_build(built, tmp_path / "out")
    (out / "manifest.json").unlink()
    res = fasprep_cli("verify", out, "--repair")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "recovered" in res.stdout and "8 video(s)" in res.stdout
    assert_same_content(clean_content, content(out))
    assert fasprep_cli("verify", out, "--repair").returncode == 0  # a sound build: nothing to repair
    # the markers lost too (parts/ deleted), then the manifest: a re-run redoes nothing
    shutil.rmtree(out / "parts")
    assert build("siw", tiny_tree, out, config=CONFIG, progress=False).n_processed == 0
    (out / "manifest.json").write_text("{ not json")
    again = build("siw", tiny_tree, out, config=CONFIG, progress=False)
    assert again.n_processed == 0 and again.n_ok == 8
    assert_converged(out, clean_content)


# --- the disk and the file system -------------------------------------------------------------------------


@contextlib.contextmanager
def tmpfs(path: Path, size_kb: int):
    """A tmpfs of ``size_kb`` at ``path``, or None where this machine does not allow it."""
    path.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(path)],
                                           capture_output=True).returncode != 0:
        yield None
        return
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def resize(mount: Path, size_kb: int, *more: str) -> None:
    subprocess.run(["mount", "-o", ",".join(["remount", f"size={size_kb}k", *more]), str(mount)], check=True)


def assert_one_line(proc: subprocess.CompletedProcess, *words: str) -> None:
    errors = [line for line in proc.stderr.splitlines() if "videos and are ignored" not in line]
    assert proc.returncode == 2 and len(errors) == 1, proc.stderr[-3000:]
    assert errors[0].startswith("fasprep: error: ") and all(w in errors[0] for w in words), errors


def test_a_full_disk_stops_the_build_with_one_line_and_the_rerun_finishes(built, clean_content, tiny_tree,
                                                                          tmp_path):
    with tmpfs(tmp_path / "disk", 1200) as disk:
        env = None if disk else hook_env(tmp_path, NO_ROOM)
        out = (disk or tmp_path) / "out"
        # while writing parts (2 workers; a video's part outgrows the disk)
        proc = fasprep_cli("build-siw", tiny_tree, out, *CLI_OPTIONS, "--workers", "2", env=env)
        assert_one_line(proc, str(out), "No space left on device")
        assert not list(out.rglob(".*.tmp*"))
        if disk:
            resize(disk, 64 << 10)
        again = fasprep_cli("build-siw", tiny_tree, out, *CLI_OPTIONS, "--workers", "2")
        assert again.returncode == 0, again.stderr[-2000:]
        assert_converged(out, clean_content)
        # while packing: the previous build stays whole
        used_kb = shutil.disk_usage(out).used // 1024
        if disk:
            resize(disk, used_kb + 1024)
        proc = fasprep_cli("build-siw", tiny_tree, out, *CLI_OPTIONS, "--shard-size", "1", env=env)
        assert_one_line(proc, str(out / "shards"), "No space left on device")
        assert not list(out.rglob(".*.tmp*"))
        assert_converged(out, clean_content)
        if disk:
            resize(disk, 64 << 10)
        assert fasprep_cli("build-siw", tiny_tree, out, *CLI_OPTIONS, "--shard-size", "1").returncode == 0
        assert_converged(out, clean_content)


def test_read_only_and_unreadable_paths_are_one_line(built, tiny_tree, tmp_path):
    with tmpfs(tmp_path / "disk", 64 << 10) as disk:
        if disk is None and os.geteuid() == 0:
            pytest.skip("as root without mount: permissions cannot make a folder read-only")
        out = copy_build(built, (disk or tmp_path) / "out")
        if disk:
            resize(disk, 64 << 10, "ro")
        else:
            for p in [out, *out.rglob("*")]:
                p.chmod(p.stat().st_mode & ~0o222)
        proc = fasprep_cli("build-siw", tiny_tree, out, *CLI_OPTIONS, "--shard-size", "1")
        assert_one_line(proc, str(out), "Read-only file system" if disk else "Permission denied")
        if disk:
            resize(disk, 64 << 10, "rw")
        else:
            for p in [out, *out.rglob("*")]:
                p.chmod(p.stat().st_mode | 0o200)
        assert shards.verify(out) == ([], [])
    if os.geteuid() != 0:  # root reads whatever the permissions say
        raw = tmp_path / "raw"
        shutil.copytree(tiny_tree, raw)
        (raw / "Train" / "spoof").chmod(0)
        try:
            proc = fasprep_cli("build-siw", raw, tmp_path / "out2", *CLI_OPTIONS)
            assert_one_line(proc, "spoof", "Permission denied")
        finally:
            (raw / "Train" / "spoof").chmod(0o755)


# --- stops of the whole build, concurrent builds -----------------------------------------------------------


HOLDER = """
# Loaded at start-up by every Python process of the build (PYTHONPATH): a worker holds each
# video for a while before labelling it, so a stop always finds videos in flight (a fast
# machine labels the test's two short videos in about a second).
import time
import fasprep.build as b

_label = b.label_video


def label_video(*args, **kwargs):
    time.sleep(30)
    return _label(*args, **kwargs)


b.label_video = label_video
"""


def _start(raw: Path, out: Path, log: Path) -> subprocess.Popen:
    """A build in the background whose workers hold each video 30 s (:data:`HOLDER`), its output
    in a file (not a pipe: a pipe would wait for every process holding it, e.g. loky's resource
    tracker, which outlives a killed build a while)."""
    hook = out.parent / "hold-hook"
    hook.mkdir(exist_ok=True)
    (hook / "sitecustomize.py").write_text(HOLDER)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(hook), os.environ.get("PYTHONPATH", "")]))
    with open(log, "w") as f:
        # SIGINT at its default, as an interactive shell starts a command: a child inherits an
        # ignored SIGINT (and keeps ignoring it, as it should), and something earlier in a full
        # test session leaves this process's SIGINT ignored.
        proc = subprocess.Popen([sys.executable, "-m", "fasprep", "build-siw", str(raw), str(out), *CLI_OPTIONS,
                                 "--workers", "2"], stdout=f, stderr=f, text=True, start_new_session=True, env=env,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    proc.started_at = time.time()
    return proc


def _wait_started(out: Path, proc: subprocess.Popen) -> list[int]:
    """Wait until a video is in flight in this build (a "started" marker newer than the
    process: an earlier, stopped build leaves its own); the build's loky worker processes then."""
    import psutil

    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        for p in (out / "parts").rglob("*.json") if (out / "parts").is_dir() else []:
            with contextlib.suppress(OSError, ValueError):
                if p.stat().st_mtime > proc.started_at and json.loads(p.read_text())["status"] == "started":
                    return [c.pid for c in psutil.Process(proc.pid).children(recursive=True)
                            if "LokyProcess" in " ".join(c.cmdline())]
        time.sleep(0.1)
    raise AssertionError(f"no video started (exit status {proc.poll()})")


def _gone(pids: list[int], within: float = 60.0) -> bool:
    # Generous for a loaded machine (they go within 0.2 s on an idle one); an orphaned loky
    # worker would otherwise wait for its 300 s idle timeout.
    import psutil

    deadline = time.time() + within
    while time.time() < deadline:
        alive = [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
        if not alive:
            return True
        time.sleep(0.1)
    return False


def test_stops_of_the_build_are_not_charged_and_its_workers_die_with_it(built, clean_content, tiny_tree, tmp_path):
    pytest.importorskip("psutil")
    names = ("003-1-1-1-1", "003-1-3-2-1")
    raw = siw_tree.link_videos(tiny_tree, tmp_path / "raw", names)
    out = tmp_path / "out"
    log = tmp_path / "build.log"
    with _locked(out):  # a build beside another one is refused
        assert_one_line(fasprep_cli("build-siw", raw, out, *CLI_OPTIONS), "another build is writing")
    # Ctrl-C (SIGINT to the process group): exit 130, one line
    proc = _start(raw, out, log)
    workers = _wait_started(out, proc)
    assert workers
    os.killpg(proc.pid, signal.SIGINT)
    assert proc.wait(timeout=60) == 130, log.read_text()[-2000:]
    # the build's one line, no traceback of its own (a worker still importing when the group
    # gets SIGINT may print Python's KeyboardInterrupt traceback: not the build's)
    assert "fasprep: interrupted" in log.read_text() and "click/core.py" not in log.read_text()
    assert _gone(workers)
    # SIGTERM to the build: it stops its workers and exits 143
    proc = _start(raw, out, log)
    workers = _wait_started(out, proc)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 143 and "Traceback" not in log.read_text(), log.read_text()[-2000:]
    assert _gone(workers)
    # SIGKILL of the build alone, twice: its workers notice and exit (a queued task is not started)
    for _ in range(2):
        proc = _start(raw, out, log)
        workers = _wait_started(out, proc)
        proc.kill()
        proc.wait(timeout=60)
        assert _gone(workers)
    # four stops while videos were in flight: none is charged to a video
    final = fasprep_cli("build-siw", raw, out, *CLI_OPTIONS, "--workers", "2")
    assert final.returncode == 0, final.stderr[-2000:]
    manifest = shards.read_manifest(out)
    assert all(r["status"] == "ok" for r in manifest["videos"].values())
    assert_same_content({v: c for v, c in clean_content.items() if v.rsplit("/", 1)[1] in names}, content(out))
    assert not list(out.rglob(".*.tmp*"))


# --- bad inputs -----------------------------------------------------------------------------------------


def test_bad_inputs_fail_alone_with_their_reason(built, tiny_tree, tmp_path):
    names = ("003-1-1-1-1", "003-1-2-1-1", "003-1-3-1-1", "003-1-3-2-1")
    raw = siw_tree.link_videos(tiny_tree, tmp_path / "raw", names)
    # a faststart MOV cut in half: its index lists every frame, half of them decode
    live = next(raw.rglob("003-1-1-1-1.mov"))
    data = live.read_bytes()
    live.unlink()
    live.write_bytes(data[:len(data) // 2])
    # garbage in a .face file: the boxes are only a prior, the video builds with a warning
    face = next(raw.rglob("003-1-2-1-1.face"))
    face.unlink()
    face.write_bytes(b"\x00\xffnot boxes\n" * 3)
    out = tmp_path / "out"
    proc = fasprep_cli("build-siw", raw, out, *CLI_OPTIONS, env=hook_env(tmp_path, FAILER))
    assert proc.returncode == 3, proc.stderr[-2000:]
    failures = (out / "failures.csv").read_text()
    assert "003-1-1-1-1" in failures and "truncated" in failures and "decoded only" in failures
    assert "003-1-3-1-1" in failures and "TypeError" in failures
    assert "Traceback" not in failures  # failures.csv keeps the one-line reason
    assert "truncated" in proc.stdout and "TypeError" in proc.stdout
    manifest = shards.read_manifest(out)
    garbage = next(r for v, r in manifest["videos"].items() if v.endswith("003-1-2-1-1"))
    assert garbage["status"] == "ok" and any(".face" in w for w in garbage["warnings"])
    info = fasprep_cli("info", out, "--failures")
    assert info.returncode == 0 and "2 failed video(s)" in info.stdout
    assert "Traceback (most recent call last)" in info.stdout and "label_video" in info.stdout
    assert "truncated" in fasprep_cli("info", out).stdout
    # --redo-failed with the bug gone builds the stage's victim; the truncated file stays failed
    again = fasprep_cli("build-siw", raw, out, *CLI_OPTIONS, "--redo-failed")
    assert again.returncode == 3 and "2 processed now" in again.stdout
    assert [v for v, r in shards.read_manifest(out)["videos"].items() if r["status"] != "ok"] == \
        [v for v in manifest["videos"] if v.endswith("003-1-1-1-1")]


def test_process_video_leaves_the_callers_opencv_threads_alone(tiny_tree, tmp_path):
    import cv2

    from fasprep.build import process_video
    from fasprep.datasets.siw import scan_siw

    record = next(r for r in scan_siw(tiny_tree).records if r.label == "live")
    before = cv2.getNumThreads()
    cv2.setNumThreads(3)
    try:
        marker = process_video(record, out=str(tmp_path), config=CONFIG)
        assert marker["status"] == "ok" and cv2.getNumThreads() == 3
    finally:
        cv2.setNumThreads(before)
