"""The .deb layout builder, on a fake one-folder app: fast, runs in the normal suite."""

import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from tests.packaging.conftest import load

deb = load("deb_package")
appinfo = load("appinfo")

FAKE_APP = """#!/bin/sh
# Stands in for the frozen Brushwork: proves where it runs from and what it was given.
echo "app at $(dirname "$(readlink -f "$0")") args: $*"
cat "$(dirname "$(readlink -f "$0")")/_internal/marker.txt"
"""


@pytest.fixture
def fake_app(tmp_path: Path) -> Path:
    folder = tmp_path / "dist" / "Brushwork"
    (folder / "_internal").mkdir(parents=True)
    (folder / "Brushwork").write_text(FAKE_APP)
    (folder / "Brushwork").chmod(0o700)  # as if built under a strict umask
    (folder / "_internal" / "marker.txt").write_text("bundled file\n")
    (folder / "_internal" / "marker.txt").chmod(0o600)
    (folder / "_internal" / "liblink.so").symlink_to("marker.txt")
    return folder


def _lay_out(fake_app: Path, staging: Path) -> Path:
    return deb.lay_out(
        fake_app, staging, version="1.2.3", executable="Brushwork", name="Brushwork",
        description=appinfo.DESCRIPTION, icon_png=appinfo.ICON_PNG, arch="amd64",
    )  # fmt: skip


def test_layout_puts_app_launcher_desktop_entry_and_icon_in_place(fake_app, tmp_path):
    root = _lay_out(fake_app, tmp_path / "staging")

    assert (root / "opt/brushwork/_internal/marker.txt").read_text() == "bundled file\n"
    assert (root / "opt/brushwork/_internal/liblink.so").is_symlink()
    for path, mode in (("opt/brushwork/Brushwork", 0o755), ("usr/bin/brushwork", 0o755),
                       ("opt/brushwork/_internal/marker.txt", 0o644),
                       ("usr/share/applications/brushwork.desktop", 0o644)):  # fmt: skip
        assert stat.S_IMODE((root / path).stat().st_mode) == mode, path
    icon = root / "usr/share/icons/hicolor/256x256/apps/brushwork.png"
    assert icon.read_bytes() == appinfo.ICON_PNG.read_bytes()
    desktop = (root / "usr/share/applications/brushwork.desktop").read_text()
    assert "Exec=brushwork %f" in desktop and "Icon=brushwork" in desktop
    assert "Name=Brushwork" in desktop


def test_control_file_names_version_architecture_size_and_qt_libraries(fake_app, tmp_path):
    root = _lay_out(fake_app, tmp_path / "staging")
    fields = dict(
        line.split(": ", 1)
        for line in (root / "DEBIAN/control").read_text().splitlines()
        if not line.startswith(" ")
    )

    assert fields["Package"] == "brushwork" and fields["Version"] == "1.2.3"
    assert fields["Architecture"] == "amd64"
    assert int(fields["Installed-Size"]) >= 1  # KiB, never 0 for a non-empty tree
    depends = fields["Depends"].split(", ")
    for library in ("libegl1", "libfontconfig1", "libxkbcommon0", "libgl1", "libdbus-1-3",
                    "libxcb-cursor0"):  # fmt: skip
        assert library in depends


def test_a_missing_app_folder_is_reported_not_packaged(tmp_path):
    with pytest.raises(FileNotFoundError, match="build the app first"):
        _lay_out(tmp_path / "nothing", tmp_path / "staging")


@pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs dpkg-deb")
def test_built_deb_extracts_and_its_launcher_runs_the_app(fake_app, tmp_path):
    root = _lay_out(fake_app, tmp_path / "staging")
    package = deb.build_deb(root, tmp_path / "out" / "brushwork_1.2.3_amd64.deb", "gzip")

    info = subprocess.run(["dpkg-deb", "--field", str(package), "Package", "Version"],
                          capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert info.split() == ["Package:", "brushwork", "Version:", "1.2.3"]
    listing = subprocess.run(["dpkg-deb", "--contents", str(package)], capture_output=True,
                             text=True, check=True).stdout  # fmt: skip
    assert "root/root" in listing and "./usr/bin/brushwork" in listing
    scratch = tmp_path / "scratch-root"
    subprocess.run(["dpkg-deb", "-x", str(package), str(scratch)], check=True)
    done = subprocess.run([str(scratch / "usr/bin/brushwork"), "--self-test", "x y"],
                          capture_output=True, text=True, timeout=30)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        f"app at {scratch / 'opt/brushwork'} args: --self-test x y",
        "bundled file",
    ]
