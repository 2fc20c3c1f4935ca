"""Lays out and builds the Linux .deb from the one-folder app.

The package installs the app under /opt/brushwork, a `brushwork` launcher in /usr/bin, a desktop
entry and the icon. The launcher finds the app relative to its own real path, so the same tree
also runs when extracted into a scratch root (`dpkg-deb -x`), which is how the tests install it.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from pathlib import Path

# What Qt's xcb and offscreen platforms load from the system (PyInstaller bundles the rest).
# t64 names are Debian 13 / Ubuntu 24.04; the alternatives cover older releases.
DEPENDS = [
    "libc6 (>= 2.31)",
    "libegl1",
    "libgl1",
    "libfontconfig1",
    "libfreetype6",
    "libxkbcommon0",
    "libxkbcommon-x11-0",
    "libdbus-1-3",
    "libglib2.0-0t64 | libglib2.0-0",
    "libx11-xcb1",
    "libxcb-cursor0",
    "libxcb-icccm4",
    "libxcb-image0",
    "libxcb-keysyms1",
    "libxcb-randr0",
    "libxcb-render-util0",
    "libxcb-shape0",
    "libxcb-xinerama0",
    "libxcb-xkb1",
]
INSTALL_DIR = "opt/brushwork"
LAUNCHER = "usr/bin/brushwork"
DESKTOP_FILE = "usr/share/applications/brushwork.desktop"
ICON_FILE = "usr/share/icons/hicolor/256x256/apps/brushwork.png"

LAUNCHER_SCRIPT = """#!/bin/sh
# Starts Brushwork from /opt/brushwork (found relative to this script's real location).
here=$(dirname "$(readlink -f "$0")")
exec "$here/../../{install_dir}/{executable}" "$@"
"""

DESKTOP_ENTRY = """[Desktop Entry]
Type=Application
Name={name}
GenericName=Image generator
Comment={description}
Exec=brushwork %f
Icon=brushwork
Terminal=false
Categories=Graphics;2DGraphics;RasterGraphics;
MimeType=image/png;image/jpeg;image/webp;
StartupWMClass={name}
"""


def deb_architecture() -> str:
    """dpkg's name for this machine's architecture (amd64, arm64, …)."""
    if shutil.which("dpkg"):
        done = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True)
        if done.returncode == 0 and done.stdout.strip():
            return done.stdout.strip()
    machine = platform.machine().lower()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def control_text(
    version: str, arch: str, installed_kib: int, description: str, maintainer: str
) -> str:
    """The DEBIAN/control file; Installed-Size is in KiB, as dpkg expects."""
    return (
        f"Package: brushwork\n"
        f"Version: {version}\n"
        f"Architecture: {arch}\n"
        f"Maintainer: {maintainer}\n"
        f"Installed-Size: {installed_kib}\n"
        f"Depends: {', '.join(DEPENDS)}\n"
        f"Section: graphics\n"
        f"Priority: optional\n"
        f"Description: {description}\n"
        f" Brushwork runs Stable Diffusion style latent-diffusion models locally and shows\n"
        f" the picture forming at every step. A small demonstration model is included.\n"
    )


def tree_size_kib(folder: Path) -> int:
    total = sum(p.lstat().st_size for p in folder.rglob("*") if p.is_file() or p.is_symlink())
    return -(-total // 1024)


def lay_out(
    app_dir: Path,
    staging: Path,
    *,
    version: str,
    executable: str,
    name: str,
    description: str,
    icon_png: Path,
    arch: str | None = None,
    maintainer: str = "Brushwork developers <maintainers@brushwork.invalid>",
) -> Path:
    """Fills `staging` (emptied first) with the package tree and returns it."""
    if not (app_dir / executable).is_file():
        raise FileNotFoundError(f"{app_dir / executable} does not exist: build the app first")
    if staging.exists():
        shutil.rmtree(staging)
    shutil.copytree(app_dir, staging / INSTALL_DIR, symlinks=True)
    launcher = LAUNCHER_SCRIPT.format(install_dir=INSTALL_DIR, executable=executable)
    _write(staging / LAUNCHER, launcher, mode=0o755)
    _write(staging / DESKTOP_FILE, DESKTOP_ENTRY.format(name=name, description=description))
    (staging / ICON_FILE).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(icon_png, staging / ICON_FILE)
    os.chmod(staging / ICON_FILE, 0o644)
    _normalise_modes(staging)
    control = control_text(
        version, arch or deb_architecture(), tree_size_kib(staging), description, maintainer
    )
    _write(staging / "DEBIAN" / "control", control)
    return staging


def build_deb(staging: Path, target: Path, compression: str = "xz") -> Path:
    """Runs dpkg-deb on a laid-out tree; files are owned by root without needing fakeroot."""
    if shutil.which("dpkg-deb") is None:
        raise RuntimeError("dpkg-deb is not installed (apt-get install dpkg)")
    target.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["dpkg-deb", "--root-owner-group", f"-Z{compression}", "--build", str(staging),
         str(target)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return target


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    os.chmod(path, mode)


def _normalise_modes(root: Path) -> None:
    """Directories 0755, executables 0755, other files 0644 (lintian's expectations; a build
    run under a restrictive umask must not produce a package users cannot read)."""
    for path in [root, *root.rglob("*")]:
        if path.is_symlink():
            continue
        if path.is_dir():
            os.chmod(path, 0o755)
        else:
            os.chmod(path, 0o755 if path.stat().st_mode & 0o111 else 0o644)
