"""What a trainer reads from a build, per video, and the comparison of two builds' content
(tolerances: labels to 2e-3 across CPUs and BLAS builds, attributes to 1e-4 relative)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fasprep import shards


def content(out: Path) -> dict:
    """Everything a trainer reads, per video: decoded datasets and group attributes."""
    manifest = shards.read_manifest(out)
    content = {}
    for vid, rec in manifest["videos"].items():
        if rec["status"] != "ok":
            content[vid] = rec["error"]
            continue
        with shards.open_video(out, vid, manifest) as g:
            content[vid] = {name: (np.array([bytes(b) for b in g[name][:]], dtype=object) if name == "frames"
                                   and g[name].attrs["codec"] == "jpeg" else g[name][:]) for name in g}
            content[vid]["attrs"] = dict(g.attrs)
    return content


def assert_same_content(a: dict, b: dict) -> None:
    assert sorted(a) == sorted(b)
    for vid in a:
        assert type(a[vid]) is type(b[vid]), vid
        if isinstance(a[vid], str):
            continue
        for name in a[vid]:
            if name == "attrs":
                for key, value in a[vid][name].items():
                    other = b[vid][name][key]
                    if isinstance(value, (float, np.floating)):
                        assert np.isclose(value, other, rtol=1e-4, equal_nan=True), (vid, key)
                    else:
                        assert value == other, (vid, key)
            elif name == "frames":
                assert np.array_equal(a[vid][name], b[vid][name]), vid
            else:
                np.testing.assert_allclose(a[vid][name].astype(float), b[vid][name].astype(float),
                                           atol=2e-3, err_msg=f"{vid}/{name}")
