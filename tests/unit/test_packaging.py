"""What `pip install .` puts into site-packages: slugbuild's own namespace and nothing else."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_wheel_installs_only_the_slugbuild_package(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "--wheel-dir", str(tmp_path), str(ROOT)], check=True, capture_output=True, timeout=300)
    (wheel,) = tmp_path.glob("slugbuild-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {name.split("/")[0] for name in names} == {"slugbuild", wheel.name.split("-py")[0] + ".dist-info"}
    assert "slugbuild/buildpacks/node/__init__.py" in names
    assert "slugbuild/buildpacks/node/lts.json" in names
    entry_points = zipfile.ZipFile(wheel).read(f"{wheel.name.split('-py')[0]}.dist-info/entry_points.txt")
    assert b"slugbuild.buildpacks.node:NodeBuildpack" in entry_points
