#!/usr/bin/env bash
# Smoke test of the packaged station (run by .ci/run after the tests and lint):
#   1. build the one-folder app and the .deb (make package; SMOKE_NO_BUILD=1 uses dist/ as is);
#   2. the frozen binary with a temporary --basedir: --version, init --demo, scan a parent and a
#      child, show, bill + reports (PDF, XLSX), doctor (both decoders found), decode sample
#      images with both decoders, and the window offscreen until its login screen has painted
#      (--smoke-test: every late-loaded module and Qt plugin is loaded too);
#   3. the .deb (root only): dpkg -i, /usr/bin/tracetrack-station --version and doctor with the
#      data in the user's own folders, reinstall (the upgrade path), remove: the program is
#      gone (nothing left to purge), the data is still there.
# Any missing module, plugin or library fails it, loudly.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

say() { printf '\n== %s\n' "$*"; }
fail() { printf '\nSMOKE TEST FAILED: %s\n' "$*" >&2; exit 1; }

# run EXPECTED_STATUS COMMAND...: show the command and its output; fail on another exit status.
OUT=""
run() {
    local want=$1; shift
    printf '$ %s\n' "$*"
    set +e
    OUT=$("$@" 2>&1)
    local got=$?
    set -e
    printf '%s\n' "$OUT" | sed 's/^/  | /'
    [ "$got" = "$want" ] || fail "exit status $got (expected $want): $*"
}
# has TEXT: the last command's output contains TEXT.
has() { grep -qF -- "$1" <<<"$OUT" || fail "expected '$1' in the output above"; }
hasnt() { ! grep -qF -- "$1" <<<"$OUT" || fail "did not expect '$1' in the output above"; }

if [ -z "${SMOKE_NO_BUILD:-}" ]; then
    say "build: make package"
    start=$SECONDS
    make package
    echo "built in $((SECONDS - start)) s"
fi

APP=dist/tracetrack-station
BIN=$APP/tracetrack-station
[ -x "$BIN" ] || fail "no frozen program at $BIN"
VERSION=$(cat "$APP/VERSION")
DEB=dist/tracetrack-station_${VERSION}_$(dpkg --print-architecture).deb
[ -f "$DEB" ] || fail "no package at $DEB"
echo "one-folder build: $(du -sh "$APP" | cut -f1); package: $(du -h "$DEB" | cut -f1)"

TMP=$(mktemp -d)
INSTALLED=""
cleanup() {
    # A run that fails half-way does not leave its package on the machine.
    if [ -n "$INSTALLED" ] && dpkg -s tracetrack-station >/dev/null 2>&1; then
        dpkg -r tracetrack-station >/dev/null || true
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT
BASE=$TMP/station
# Nothing from this shell's settings: the frozen program finds everything itself.
unset QT_QPA_PLATFORM QT_PLUGIN_PATH PYTHONPATH PYTHONHOME LD_LIBRARY_PATH TRACETRACK_BASEDIR
export TRACETRACK_PASSWORD=demo TRACETRACK_NO_KEYRING=1
export QT_QPA_PLATFORM=offscreen  # the commands below that open Qt (PDF) have no screen here

say "frozen program: $BIN"
run 0 "$BIN" --version
[ "$OUT" = "tracetrack-station $VERSION" ] || fail "--version printed '$OUT'"
run 0 "$BIN" --basedir "$BASE" init --station-id SMOKE-1 --area North --demo
has "Station SMOKE-1 (area North) created"
run 0 "$BIN" --basedir "$BASE" --json scan --as dispatcher SB00001 C0001
has '"code": "SB00001", "kind": "parent", "outcome": "accepted"'
has '"code": "C0001", "kind": "child", "outcome": "accepted", "reason": "child_linked"'
run 0 "$BIN" --basedir "$BASE" show SB00001
has "SB00001"
has "C0001"
run 0 "$BIN" --basedir "$BASE" --json show C0001
has '"parent": "SB00001"'
run 0 "$BIN" --basedir "$BASE" bill create B-SMOKE --target 1 --as biller
run 0 "$BIN" --basedir "$BASE" bill add B-SMOKE SB00001 --as biller
has "SB00001"
run 0 "$BIN" --basedir "$BASE" report bill B-SMOKE --as biller --output "$TMP/B-SMOKE.pdf"
[ "$(head -c 4 "$TMP/B-SMOKE.pdf")" = "%PDF" ] || fail "the bill sheet is not a PDF"
run 0 "$BIN" --basedir "$BASE" report bills --as biller --output "$TMP/bills.xlsx"
[ "$(head -c 2 "$TMP/bills.xlsx")" = "PK" ] || fail "the bills list is not an XLSX file"

run 0 "$BIN" --basedir "$BASE" doctor
has "integrity: ok"
has "decoders: zxing-cpp 3."
has ", zbar 0."
hasnt "unavailable"
[ -f "$APP/_internal/libzbar.so.0" ] || fail "the zbar library is not in the bundle"

TEST_CODE=TT-Scan-0123456789-QWYZAM-qwyzam
for backend in zxing zbar; do
    run 0 "$BIN" decode --backend "$backend" resources/scanner_test_code.png
    has "'$TEST_CODE'"
done
SAMPLE=tests/data/qr-samples/qrcode-1/1.webp  # a photo of a label (WebP, read by OpenCV)
if [ -f "$SAMPLE" ]; then
    run 0 "$BIN" --json decode "$SAMPLE"
    expected=$(cat "${SAMPLE%.webp}.txt")
    python3 -c 'import json, sys
got = [c["text"] for c in json.loads(sys.stdin.read())["codes"]]
sys.exit(0 if got == [sys.argv[1]] else 1)' "$expected" <<<"$OUT" \
        || fail "$SAMPLE: the text read is not that of ${SAMPLE%.webp}.txt"
    echo "  (read exactly the text of ${SAMPLE%.webp}.txt)"
fi

say "frozen window: --smoke-test"
unset QT_QPA_PLATFORM  # the flag chooses offscreen itself
run 0 "$BIN" --basedir "$BASE" --smoke-test
has "smoke test passed: login screen painted"

say "the .deb: $DEB"
if [ "$(id -u)" != 0 ] || ! command -v dpkg >/dev/null; then
    [ -n "${SMOKE_SKIP_DEB:-}" ] || fail "installing the .deb needs root (or set SMOKE_SKIP_DEB=1)"
    echo "skipped (SMOKE_SKIP_DEB)"
    exit 0
fi
if dpkg -s tracetrack-station >/dev/null 2>&1; then
    echo "tracetrack-station is installed already (a run stopped half-way?): removing it first"
    dpkg -r tracetrack-station
fi
export HOME=$TMP/home  # the package's program keeps its data in the user's folders
unset XDG_DATA_HOME XDG_CONFIG_HOME XDG_STATE_HOME XDG_CACHE_HOME
mkdir -p "$HOME"
DATA=$HOME/.local/share/TraceTrackStation
INSTALLED=1
run 0 dpkg -i "$DEB"
for f in /usr/bin/tracetrack-station /opt/tracetrack-station/tracetrack-station \
         /usr/share/applications/tracetrack-station.desktop \
         /usr/share/icons/hicolor/256x256/apps/tracetrack-station.png \
         /usr/share/icons/hicolor/scalable/apps/tracetrack-station.svg; do
    [ -e "$f" ] || fail "$f was not installed"
done
if command -v desktop-file-validate >/dev/null; then
    run 0 desktop-file-validate /usr/share/applications/tracetrack-station.desktop
fi
run 0 /usr/bin/tracetrack-station --version
[ "$OUT" = "tracetrack-station $VERSION" ] || fail "--version printed '$OUT'"
run 4 /usr/bin/tracetrack-station doctor  # no station yet: says so
has "no store yet"
run 0 /usr/bin/tracetrack-station init --station-id DEB-1 --area North --demo
has "created in $DATA"
run 0 /usr/bin/tracetrack-station scan --as dispatcher SB00002 C0002
run 0 /usr/bin/tracetrack-station doctor
has "store: $DATA/station.sqlite3"
has "integrity: ok"
has "decoders: zxing-cpp 3."
hasnt "unavailable"
run 0 /usr/bin/tracetrack-station --smoke-test
has "smoke test passed"

say "upgrade (the same package again), then remove"
run 0 dpkg -i "$DEB"
run 0 /usr/bin/tracetrack-station --json show C0002
has '"parent": "SB00002"'
sum_before=$(sha256sum "$DATA/station.sqlite3")
run 0 dpkg -r tracetrack-station
run 1 dpkg -s tracetrack-station  # no configuration files: removed is purged
for f in /usr/bin/tracetrack-station /opt/tracetrack-station \
         /usr/share/applications/tracetrack-station.desktop \
         /usr/share/icons/hicolor/256x256/apps/tracetrack-station.png; do
    [ ! -e "$f" ] || fail "$f is still there after removal"
done
[ "$(sha256sum "$DATA/station.sqlite3")" = "$sum_before" ] \
    || fail "the station's data changed or went away with the package"
echo "the station's data is still in $DATA, unchanged"

say "smoke test passed"
