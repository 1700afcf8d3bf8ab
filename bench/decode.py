"""Camera decode benchmark: ms per frame per resolution and backend, reads on the sample images,
and the camera panel's preview rate while decoding.

python -m bench.decode [--full]. Frames are generated (seeded): a textured, noisy background with
or without one QR label. Both backends run in the same process on the same frames. The last
line of output is one JSON object (docs/architecture.md §10). The sample images are the ones the
tests use: tests/data/qr-samples (from zxing-cpp, Apache-2.0; see its README.md).
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

from station.camera.cli import load_image
from station.camera.decoders import BACKENDS, Decoder, DecoderUnavailable, make_decoder
from station.camera.synthetic import FrameSpec, Placed, Renderer

SAMPLES = Path(__file__).resolve().parents[1] / "tests" / "data" / "qr-samples"
RESOLUTIONS = [(640, 480), (1280, 720), (1920, 1080)]
LABEL = "SB00001"


def frames_for(width: int, height: int) -> dict[str, list]:
    """A few different frames per case so no single lucky picture decides the figure."""
    module_px = max(3, height // 160)  # a label at arm's length: about a third of the height
    r = Renderer(width, height, module_px=module_px, seed=11, stamp=False)
    out: dict[str, list] = {"code": [], "empty": []}
    for i in range(4):
        out["empty"].append(r.render(FrameSpec(noise=6), i))
        x, y = width // 3 + 17 * i, height // 4 + 11 * i
        out["code"].append(r.render(FrameSpec((Placed(LABEL, x, y),), noise=6), 10 + i))
    return out


def time_backends(decoders: dict[str, Decoder], frames: list,
                  reps: int) -> dict[str, tuple[float, float, int]]:
    """Per backend: (median ms, p95 ms, frames where the label was read). The backends take
    turns on the same frame, so load from elsewhere on the machine hits both alike."""
    for dec in decoders.values():
        for f in frames:
            dec.decode(f)  # warm-up
    times: dict[str, list[float]] = {name: [] for name in decoders}
    hits = dict.fromkeys(decoders, 0)
    for rep in range(reps):
        f = frames[rep % len(frames)]
        for name, dec in decoders.items():
            t0 = time.perf_counter()
            codes = dec.decode(f)
            times[name].append((time.perf_counter() - t0) * 1000.0)
            hits[name] += any(c.text == LABEL for c in codes)
    out = {}
    for name, ts in times.items():
        ts.sort()
        out[name] = (statistics.median(ts), ts[min(len(ts) - 1, int(0.95 * len(ts)))], hits[name])
    return out


def sample_reads(decoder: Decoder) -> tuple[int, int, int, float]:
    """(images read with the exact text, images, false-positive codes, ms for all images)."""
    images = sorted(p for p in SAMPLES.glob("qrcode-*/*") if p.suffix != ".txt")
    negatives = sorted(p for p in SAMPLES.glob("falsepositives-*/*") if p.suffix != ".txt")
    if not images or not negatives:  # a read rate over no images would be a figure of nothing
        raise SystemExit(f"no sample images in {SAMPLES}")
    read, false_pos, spent = 0, 0, 0.0
    for p in images:
        frame = load_image(str(p))
        expected = p.with_suffix(".txt").read_bytes()
        t0 = time.perf_counter()
        codes = decoder.decode(frame)
        spent += time.perf_counter() - t0
        read += any(c.text.encode("utf-8") == expected or c.raw == expected for c in codes)
    for p in negatives:
        frame = load_image(str(p))
        if frame is not None:
            false_pos += len(decoder.decode(frame))
    return read, len(images), false_pos, spent * 1000.0


def preview_rates(seconds: float) -> dict[str, float]:
    """Preview fps and decoded frames/s of the real camera panel on a 720p 30 fps video, and the
    decoded frames/s of the same capture worker with no preview, measured in the same run."""
    import os
    import tempfile
    import threading

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication, QLayout

    from station.camera.capture import CaptureWorker
    from station.camera.synthetic import render_all, write_video
    from station.settings import StationSettings
    from ui.camera_panel import CameraPanel

    app = QApplication.instance() or QApplication([])
    w, h = 1280, 720
    specs = [FrameSpec((Placed(LABEL, 300 + 4 * i, 200),), noise=6) for i in range(60)]
    with tempfile.TemporaryDirectory() as tmp:
        video = write_video(Path(tmp) / "720p.avi",
                            render_all(Renderer(w, h, module_px=4, seed=3), specs), 30.0, (w, h))
        panel = CameraPanel(StationSettings(camera=str(video), decoder_backend="zxing"),
                            worker_options={"loop": True}, autostart=False)
        panel.layout().setSizeConstraint(QLayout.SizeConstraint.SetNoConstraint)
        panel.resize(800, 500)
        panel.show()
        panel.start()
        loop = QEventLoop()
        QTimer.singleShot(500, loop.quit)  # warm-up
        loop.exec()
        painted0, decoded0 = panel.view.pictures_shown, panel.worker.frames_decoded
        t0 = time.perf_counter()
        QTimer.singleShot(int(seconds * 1000), loop.quit)
        loop.exec()
        elapsed = time.perf_counter() - t0
        preview_fps = (panel.view.pictures_shown - painted0) / elapsed
        decoded_with = (panel.worker.frames_decoded - decoded0) / elapsed
        panel.shutdown()
        panel.close()
        app.processEvents()

        worker = CaptureWorker(str(video), make_decoder("zxing"), loop=True)
        worker.start()
        threading.Event().wait(0.5)
        d0, t0 = worker.frames_decoded, time.perf_counter()
        threading.Event().wait(seconds)
        decoded_without = (worker.frames_decoded - d0) / (time.perf_counter() - t0)
        worker.stop()
        worker.join(5)
    return {"preview_fps_720p": round(preview_fps, 1),
            "decoded_fps_720p_with_preview": round(decoded_with, 1),
            "decoded_fps_720p_without_preview": round(decoded_without, 1)}


def main(argv: list[str]) -> int:
    full = "--full" in argv
    reps = 200 if full else 20
    metrics: dict[str, float | int | str] = {}
    decoders: dict[str, Decoder] = {}
    for name in BACKENDS:
        try:
            decoders[name] = make_decoder(name)
            metrics[f"{name}_version"] = decoders[name].version
        except DecoderUnavailable as exc:
            metrics[f"{name}_unavailable"] = exc.reason
            print(f"{name}: {exc.message}", flush=True)
    for w, h in RESOLUTIONS:
        cases = frames_for(w, h)
        worst = dict.fromkeys(decoders, 0.0)
        for case, frames in cases.items():
            for name, (p50, p95, hits) in time_backends(decoders, frames, reps).items():
                worst[name] = max(worst[name], p50)
                metrics[f"{name}_ms_{h}p_{case}"] = round(p50, 2)
                metrics[f"{name}_p95_ms_{h}p_{case}"] = round(p95, 2)
                if case == "code":
                    metrics[f"{name}_label_read_{h}p"] = round(hits / reps, 3)
                print(f"{name:5} {w}x{h} {case:5}: p50 {p50:6.2f} ms  p95 {p95:6.2f} ms"
                      + (f"  label read in {hits}/{reps} frames" if case == "code" else ""),
                      flush=True)
        for name in decoders:
            metrics[f"{name}_ms_{h}p"] = round(worst[name], 2)  # slower of with / without a code
    for name, dec in decoders.items():
        read, n, fp, ms = sample_reads(dec)
        metrics[f"{name}_read"] = read
        metrics[f"{name}_images"] = n
        metrics[f"{name}_false_positives"] = fp
        metrics[f"{name}_samples_ms"] = round(ms, 1)
        print(f"{name:5} samples: {read}/{n} read with the exact text, {fp} false positives, "
              f"{ms:.0f} ms for all images", flush=True)
    rates = preview_rates(10.0 if full else 3.0)
    metrics.update(rates)
    print(f"camera panel, 720p video at 30 fps: preview {rates['preview_fps_720p']} fps, "
          f"decoded {rates['decoded_fps_720p_with_preview']} frames/s with the preview, "
          f"{rates['decoded_fps_720p_without_preview']} without", flush=True)
    ratios: dict[str, float] = {}
    if rates["decoded_fps_720p_without_preview"]:
        ratios["decoded_with_vs_without_preview"] = round(
            rates["decoded_fps_720p_with_preview"] / rates["decoded_fps_720p_without_preview"], 3)
    if "zxing" in decoders and "zbar" in decoders:
        ratios["zbar_vs_zxing_ms_720p"] = round(
            float(metrics["zbar_ms_720p"]) / float(metrics["zxing_ms_720p"]), 2)
        ratios["zbar_vs_zxing_read"] = round(
            int(metrics["zbar_read"]) / max(1, int(metrics["zxing_read"])), 3)
    size = {"reps_per_case": reps, "resolutions": [f"{w}x{h}" for w, h in RESOLUTIONS]}
    print(json.dumps({"bench": "decode", "size": size, "metrics": metrics, "ratios": ratios}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
