"""Installs the built .deb into a scratch root and runs the installed app's self-test.

Not part of the regular suite (it needs a finished build and takes about a minute): run
`python -m pytest packaging/tests` after `python packaging/build.py`, which runs it itself.
Skipped when dist/ holds no .deb.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

PACKAGING = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PACKAGING))
import appinfo  # noqa: E402

DIST = appinfo.ROOT / "dist"
DEBS = sorted(DIST.glob(f"{appinfo.PACKAGE_NAME}_{appinfo.version()}_*.deb"))
TARBALLS = sorted(DIST.glob(f"{appinfo.APP_NAME}-{appinfo.version()}-linux-*.tar.gz"))
pytestmark = pytest.mark.skipif(
    not DEBS, reason="no .deb in dist/: run python packaging/build.py first"
)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("scratch-root")
    subprocess.run(["dpkg-deb", "-x", str(DEBS[-1]), str(root)], check=True)
    return root


def test_package_metadata_matches_pyproject():
    fields = subprocess.run(["dpkg-deb", "--field", str(DEBS[-1]), "Package", "Version"],
                            capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert fields.split() == ["Package:", "brushwork", "Version:", appinfo.version()]


def test_layout_has_app_launcher_desktop_entry_and_icon(installed: Path):
    assert os.access(installed / "opt/brushwork/Brushwork", os.X_OK)
    model = installed / "opt/brushwork/_internal/resources/models/brushwork-shapes"
    assert (model / "model_index.json").is_file()
    assert os.access(installed / "usr/bin/brushwork", os.X_OK)
    desktop = (installed / "usr/share/applications/brushwork.desktop").read_text()
    assert "Exec=brushwork %f" in desktop
    assert (installed / "usr/share/icons/hicolor/256x256/apps/brushwork.png").is_file()


def test_installed_launcher_passes_the_self_test(installed: Path, tmp_path: Path):
    out = tmp_path / "out"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path / "home"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
    }
    done = subprocess.run([str(installed / "usr/bin/brushwork"), "--self-test", "--out", str(out)],
                          env=env, capture_output=True, text=True, timeout=900)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr[-4000:]
    lines = done.stdout.splitlines()
    assert f"Brushwork {appinfo.version()}, " in lines[0] and "frozen: yes" in lines[0]
    assert lines[-1] == "self-test: OK"
    assert len(list(out.glob("*.png"))) == 1
    assert not (tmp_path / "config").exists() and not (tmp_path / "data").exists()
    print("\n".join(lines))  # the timings, for packaging/README.md (pytest -s shows them)


@pytest.mark.skipif(not TARBALLS, reason="no .tar.gz in dist/")
def test_tarball_holds_the_one_folder_app():
    with tarfile.open(TARBALLS[-1]) as archive:
        names = set(archive.getnames())
    top = TARBALLS[-1].name.removesuffix(".tar.gz")
    assert f"{top}/Brushwork" in names
    assert f"{top}/_internal/resources/models/brushwork-shapes/model_index.json" in names
