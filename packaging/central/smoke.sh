#!/usr/bin/env bash
# Smoke test of the centre's own distribution (run by .ci/run after packaging/smoke.sh): build
# the tracetrack-central wheel (SMOKE_NO_BUILD=1: the one make package left in dist/), install it in a fresh virtualenv, check that none of the
# station's heavy dependencies came along (Qt, OpenCV, decoders), that the commands answer, and
# that `serve` (embedded PostgreSQL) comes up and reports healthy on /healthz.
set -euo pipefail
cd "$(dirname "$0")/../.."

fail() { printf '\nCENTRE SMOKE TEST FAILED: %s\n' "$*" >&2; exit 1; }

PY=${PYTHON:-$(.venv/bin/python -c 'import sys; print(sys._base_executable)')}
VERSION=$(.venv/bin/python -c 'import station; print(station.__version__)')
WHEEL=dist/tracetrack_central-$VERSION-py3-none-any.whl
if [ -z "${SMOKE_NO_BUILD:-}" ] || [ ! -f "$WHEEL" ]; then
    .venv/bin/python packaging/central/build_wheel.py
fi
[ -f "$WHEEL" ] || fail "no wheel at $WHEEL"

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

echo "== a fresh virtualenv with only $WHEEL"
"$PY" -m venv "$TMP/venv"
"$TMP/venv/bin/pip" install -q --upgrade pip
"$TMP/venv/bin/pip" install -q "$WHEEL"
installed=$("$TMP/venv/bin/pip" list --format=freeze)
printf '%s\n' "$installed" | sed 's/^/  | /'
for heavy in PySide6 shiboken6 opencv numpy zxing-cpp pyzbar keyring openpyxl; do
    if grep -qi "^$heavy" <<<"$installed"; then
        fail "$heavy was installed with the centre"
    fi
done
"$TMP/venv/bin/python" -c 'import PySide6' 2>/dev/null && fail "PySide6 can be imported"

CENTRAL=$TMP/venv/bin/tracetrack-central
for args in "--help" "init --help" "serve --help" "add-station --help"; do
    echo "\$ tracetrack-central $args"
    # shellcheck disable=SC2086
    "$CENTRAL" $args >"$TMP/out" 2>&1 || { cat "$TMP/out"; fail "tracetrack-central $args"; }
    head -3 "$TMP/out" | sed 's/^/  | /'
done

echo "== serve (embedded PostgreSQL) until /healthz answers, then stop it as systemd does"
# Started from Python: a background job of this script would have SIGINT ignored, and SIGINT
# is how the systemd unit stops the service (tracetrack-central.service, KillSignal).
"$TMP/venv/bin/python" - "$CENTRAL" "$TMP" <<'PY' || fail "serve"
import os, signal, socket, subprocess, sys, time, urllib.request
central, tmp = sys.argv[1], sys.argv[2]
s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
log = open(os.path.join(tmp, "serve.log"), "w+")
server = subprocess.Popen([central, "serve", "--data-dir", os.path.join(tmp, "pg"),
                           "--host", "127.0.0.1", "--port", str(port), "--demo", "North"],
                          stdout=log, stderr=subprocess.STDOUT)
try:
    deadline, status = time.monotonic() + 120, None
    while status is None and time.monotonic() < deadline and server.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
                status = r.status
                print(f"  | /healthz {r.status}: {r.read().decode()[:200]}")
        except OSError:
            time.sleep(0.5)  # a server starting up: nothing to wait on but its port
    if status != 200:
        sys.exit(f"no healthy answer on /healthz (exit status {server.poll()})")
finally:
    server.send_signal(signal.SIGINT)
    code = server.wait(60)
    log.seek(0)
    print("".join(f"  | {line}" for line in log))
pidfile = os.path.join(tmp, "pg", "postmaster.pid")
if code != 0 or os.path.exists(pidfile):
    sys.exit(f"serve stopped with status {code}; embedded PostgreSQL left running: "
             f"{os.path.exists(pidfile)}")
print("  (stopped cleanly, its PostgreSQL too)")
PY
echo "== centre smoke test passed"
