"""`tracetrack-station decode IMAGE...`: decode image files to diagnose labels that will not scan.

Also adds the decoders line to `doctor`.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import cv2

from station.camera.capture import quiet_opencv
from station.camera.decoders import (
    BACKENDS,
    DEFAULT_BACKEND,
    DecodedCode,
    DecoderUnavailable,
    describe_backends,
    make_decoder,
)
from station.cli import DOCTOR_CHECKS, EXIT_OK, EXIT_USAGE, CommandError, Output, common_options
from station.codes import escape_read
from station.paths import StationPaths

EXIT_UNREADABLE = 1  # some files were not images (the others were still decoded)


def load_image(path: str) -> Any:
    """The picture in `path` as OpenCV loads it (grey, BGR or BGRA), or None if it cannot be read."""
    try:
        data = Path(path).read_bytes()
    except OSError:
        return None
    import numpy as np

    # imdecode on the bytes: works for any file name (imread trips on some non-ASCII paths).
    # OpenCV's own log lines about a bad file would only repeat what we say in plain words.
    with quiet_opencv():
        return cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)


def _why_unreadable(path: str) -> str:
    p = Path(path)
    if not p.exists():
        return "no such file"
    if p.is_dir():
        return "it is a folder, not an image"
    return "not a picture OpenCV can read, or damaged"


def _code_text(code: DecodedCode) -> str:
    xs = [x for x, _ in code.corners]
    ys = [y for _, y in code.corners]
    return (f"  {code.format} {escape_read(code.text, limit=200)} "
            f"at x {min(xs)}-{max(xs)}, y {min(ys)}-{max(ys)}")


def cmd_decode(args: argparse.Namespace, out: Output) -> int:
    try:
        decoder = make_decoder(args.backend)
    except DecoderUnavailable as exc:
        other = [b for b in BACKENDS if b != args.backend]
        raise CommandError(f"{exc.message}. Try --backend {other[0]}.", EXIT_USAGE) from exc
    status = EXIT_OK
    for path in args.images:
        image = load_image(path)
        if image is None:
            why = _why_unreadable(path)
            out.emit({"file": path, "codes": [], "error": f"cannot read {path}: {why}"},
                     f"{path}: cannot be read ({why})")
            status = EXIT_UNREADABLE
            continue
        try:
            codes = decoder.decode(image)
        except ValueError as exc:  # a picture the decoders do not take (float, 2 channels)
            # (before: a traceback, and the files after it were never read)
            out.emit({"file": path, "codes": [], "error": f"cannot decode {path}: {exc}"},
                     f"{path}: cannot be decoded ({exc})")
            status = EXIT_UNREADABLE
            continue
        h, w = image.shape[:2]
        if codes:
            head = f"{path}: {len(codes)} code{'s' if len(codes) > 1 else ''} ({w}×{h})"
            text = "\n".join([head] + [_code_text(c) for c in codes])
        else:
            text = (f"{path}: no QR code found ({w}×{h}, {decoder.name}). "
                    "Try the other backend, more light, or a sharper picture.")
        out.emit({"file": path, "codes": [c.to_json() for c in codes]}, text)
    return status


def doctor_decoders(paths: StationPaths) -> dict[str, Any]:
    return {"decoders": describe_backends()}


def register(sub: Any) -> None:
    p = sub.add_parser(
        "decode",
        help="decode QR codes in image files (for labels that will not scan)",
        description="Decode the QR codes in image files and print what was found.",
    )
    common_options(p, top=False)
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--backend", choices=BACKENDS, default=DEFAULT_BACKEND,
                   help=f"decoder to use (default {DEFAULT_BACKEND})")
    p.set_defaults(handler=cmd_decode)
    if doctor_decoders not in DOCTOR_CHECKS:
        DOCTOR_CHECKS.append(doctor_decoders)
