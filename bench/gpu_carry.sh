#!/usr/bin/env bash
# Builds `.whl/` (git-ignored): what bench/gpu_check.sh needs on a lent GPU machine that has
# PyTorch but not Brushwork's other packages and cannot reach a package index (the device tool's
# H200: Python 3.12, torch, transformers, peft, aiohttp, OpenCV; no diffusers, no PySide6).
#   - wheels: diffusers, DeepCache, platformdirs, spandrel, importlib_metadata (pure Python);
#   - site.tar.xz: PySide6 cut down to QtCore/QtGui/QtWidgets with the offscreen platform
#     plugin (the whole wheel is 78 MB, over the tool's 64 MiB), plus the X/GL/glib/fontconfig
#     libraries Qt links (Debian packages, unpacked into syslib/, found via LD_LIBRARY_PATH).
# About 31 MB. Then, with the device tool (carry [".whl"], timeout 590), one command:
#   python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl &&
#   mkdir -p /tmp/pys && tar xJf .whl/site.tar.xz -C /tmp/pys &&
#   export PYTHONPATH=/tmp/site:/tmp/pys LD_LIBRARY_PATH=/tmp/pys/syslib HF_HUB_OFFLINE=1
#   PYTHONUNBUFFERED=1 PYTHON=python3 && bash bench/gpu_check.sh 2>&1 | tee $OUT/log;
#   cp bench/results.md $OUT/
# Used on 2026-11-30 (bench/results.md, "GPU check"). Needs pip, apt-get and network to the
# package registries on this machine; PYTHON: the interpreter Brushwork is installed in (its
# diffusers and platformdirs versions are the ones carried).
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
pyside=${PYSIDE:-6.11.3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p .whl
grep -qx '/.whl/' .gitignore || echo "warning: .whl/ is not in .gitignore" >&2

download() {  # CPython 3.12 wheels for x86-64 Linux, without their dependencies
    "$python" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
        --implementation cp --platform manylinux_2_34_x86_64 --platform manylinux_2_28_x86_64 \
        --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d "$1" "${@:2}"
}
version() { "$python" -c "import importlib.metadata as m; print(m.version('$1'))"; }

download .whl "diffusers==$(version diffusers)" "DeepCache==0.1.1" \
    "platformdirs==$(version platformdirs)" "spandrel==0.4.2" importlib_metadata
download "$work" "PySide6-Essentials==$pyside" "shiboken6==$pyside"

site="$work/site"
mkdir -p "$site/PySide6/Qt/lib" "$site/PySide6/Qt/plugins/platforms" "$site/syslib"
(cd "$work" && for w in pyside6_essentials-*.whl shiboken6-*.whl; do unzip -q -o "$w" -d full; done)
full="$work/full/PySide6"
cp -r "$work/full/shiboken6" "$site/" && rm -rf "$site/shiboken6/include"
cp "$full"/{__init__.py,_config.py,_git_pyside_version.py,QtCore.abi3.so,QtGui.abi3.so} "$site/PySide6/"
cp "$full"/QtWidgets.abi3.so "$full"/libpyside6.abi3.so.* "$site/PySide6/"
cp -r "$full/support" "$site/PySide6/"
for lib in Core DBus Gui Widgets; do cp "$full/Qt/lib/libQt6$lib.so.6" "$site/PySide6/Qt/lib/"; done
cp "$full"/Qt/lib/libicu*.so.* "$site/PySide6/Qt/lib/"
cp "$full/Qt/plugins/platforms/libqoffscreen.so" "$site/PySide6/Qt/plugins/platforms/"
cp -r "$full/Qt/plugins/imageformats" "$site/PySide6/Qt/plugins/"

apt-get update -qq >/dev/null 2>&1 || true
(cd "$work" && apt-get download -q libegl1 libgl1 libglvnd0 libglx0 libopengl0 libx11-6 libxcb1 \
    libxau6 libxdmcp6 libfontconfig1 libfreetype6 libpng16-16 libbrotli1 libexpat1 \
    libglib2.0-0 libxkbcommon0 libdbus-1-3 libbsd0 libmd0 libpcre2-8-0 libffi8 >/dev/null)
for deb in "$work"/*.deb; do dpkg -x "$deb" "$work/root"; done
find "$work/root" -name '*.so*' \( -type f -o -type l \) -exec cp -a {} "$site/syslib/" \;
tar cJf .whl/site.tar.xz -C "$site" .
du -ch .whl/* | tail -1
