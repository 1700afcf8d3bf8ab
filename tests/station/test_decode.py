"""Decoding the real sample images (tests/data/qr-samples, from zxing-cpp, Apache-2.0) with both
backends, and the `decode` command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from station.camera import decoders
from station.camera.cli import load_image
from station.camera.decoders import DecodedCode, DecoderUnavailable, make_decoder, reading_order
from station.camera.synthetic import qr_image
from station.cli import DOCTOR_CHECKS
from ui import cli as ui_cli

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "qr-samples"
CODE_IMAGE_COUNT = 137  # tests/data/qr-samples/README.md
FALSE_POSITIVE_MIN = 40  # 46 images with no code in them (two of them OpenCV cannot load)
ZXING_MIN_READ = 123  # the decode target (BENCHMARKS.md): at least 123 of the 137 images


def _images(pattern: str) -> list[Path]:
    return sorted(p for p in SAMPLES.glob(pattern) if p.is_file() and p.suffix != ".txt")


CODE_IMAGES = _images("qrcode-*/*")
FALSE_POSITIVES = _images("falsepositives-*/*")


def _expected(image: Path) -> bytes:
    return image.with_suffix(".txt").read_bytes()


def _right_text(codes: list[DecodedCode], expected: bytes) -> bool:
    # Expected files are UTF-8 bytes of the text; a code's raw bytes may be in another charset
    # (e.g. GB2312), so the decoded text is what must match, byte for byte.
    return any(c.text.encode("utf-8") == expected or c.raw == expected for c in codes)


def _zbar() -> decoders.Decoder:
    # Not a skip: the station offers zbar, so a machine that cannot run it cannot test it
    # (.ci/run installs libzbar0).
    try:
        return make_decoder("zbar")
    except DecoderUnavailable as exc:
        pytest.fail(f"zbar backend not usable here: {exc.message}")


def _assert_samples_present() -> None:
    # Every test over the sample set checks it first, so a missing or half-copied folder fails
    # the test instead of letting a loop over no images pass.
    assert len(CODE_IMAGES) == CODE_IMAGE_COUNT, f"{len(CODE_IMAGES)} code images in {SAMPLES}"
    assert len(FALSE_POSITIVES) >= FALSE_POSITIVE_MIN, f"{len(FALSE_POSITIVES)} in {SAMPLES}"


def test_sample_folder_is_complete() -> None:
    _assert_samples_present()
    assert all(p.with_suffix(".txt").exists() for p in CODE_IMAGES)
    assert (SAMPLES / "LICENSE").read_text().lstrip().startswith("Apache License")


def _read_rate(decoder: decoders.Decoder) -> tuple[int, list[str]]:
    _assert_samples_present()
    read, missed = 0, []
    for image in CODE_IMAGES:
        frame = load_image(str(image))
        assert frame is not None, f"{image} cannot be loaded"
        if _right_text(decoder.decode(frame), _expected(image)):
            read += 1
        else:
            missed.append(str(image.relative_to(SAMPLES)))
    return read, missed


def _false_positives(decoder: decoders.Decoder) -> dict[str, list[str]]:
    _assert_samples_present()
    found, loaded = {}, 0
    for image in FALSE_POSITIVES:
        frame = load_image(str(image))
        if frame is None:
            continue  # 1x1 / 1x100 webp files OpenCV refuses: nothing to decode in them
        loaded += 1
        codes = decoder.decode(frame)
        if codes:
            found[str(image.relative_to(SAMPLES))] = [c.text for c in codes]
    assert loaded >= FALSE_POSITIVE_MIN, f"only {loaded} false-positive images could be loaded"
    return found


def test_zxing_reads_the_sample_images_with_the_exact_text() -> None:
    read, missed = _read_rate(make_decoder("zxing"))
    assert read >= ZXING_MIN_READ, f"zxing read {read}/137; missed {missed}"


def test_zxing_reports_nothing_on_false_positive_images() -> None:
    assert _false_positives(make_decoder("zxing")) == {}


def test_zbar_reads_sample_images_and_no_false_positives() -> None:
    zbar = _zbar()
    read, missed = _read_rate(zbar)
    # zbar reads fewer (about 95 of 137 measured); the point is it works and is not silent.
    assert read >= 80, f"zbar read {read}/137; missed {missed}"
    assert _false_positives(zbar) == {}


def test_text_keeps_control_characters_and_non_utf8_charsets() -> None:
    # 33.png holds SOH DLE control characters and a GB2312-encoded character.
    frame = load_image(str(SAMPLES / "qrcode-2" / "33.png"))
    [code] = make_decoder("zxing").decode(frame)
    assert code.text == "\x01\x10AD:SUB:阿;;"
    assert code.raw == b"\x01\x10AD:SUB:\xb0\xa2;;"
    assert code.text.encode("utf-8") == _expected(SAMPLES / "qrcode-2" / "33.png")


@pytest.mark.parametrize("backend", ["zxing", "zbar"])
def test_grey_bgr_and_bgra_frames_give_the_same_codes(backend: str) -> None:
    decoder = _zbar() if backend == "zbar" else make_decoder(backend)
    bgr = load_image(str(SAMPLES / "qrcode-1" / "1.webp"))
    assert bgr.ndim == 3 and bgr.shape[2] == 3
    grey = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    bgra = cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA)
    bgra[:, :, 3] = 0  # a fully transparent alpha channel must not hide the code
    wide = np.zeros((bgr.shape[0], bgr.shape[1] + 16, 3), np.uint8)
    wide[:, :bgr.shape[1]] = bgr
    strided = wide[:, :bgr.shape[1]]  # the same picture as a view with padded rows
    assert not strided.flags.c_contiguous
    results = [[c.text for c in decoder.decode(f)] for f in (grey, bgr, bgra, strided)]
    assert results[0] == ["MEBKM:URL:http\\://en.wikipedia.org/wiki/Main_Page;;"]
    assert results == [results[0]] * 4


@pytest.mark.parametrize("backend", ["zxing", "zbar"])
def test_two_codes_come_left_to_right_with_their_positions(backend: str) -> None:
    decoder = _zbar() if backend == "zbar" else make_decoder(backend)
    frame = np.full((300, 640), 200, np.uint8)
    right, left = qr_image("C0002", 5), qr_image("C0001", 5)
    frame[40:40 + right.shape[0], 400:400 + right.shape[1]] = right
    frame[60:60 + left.shape[0], 50:50 + left.shape[1]] = left
    codes = decoder.decode(frame)
    assert [c.text for c in codes] == ["C0001", "C0002"]
    x, y, w, h = codes[0].bbox
    assert 50 <= x < 50 + left.shape[1] and 60 <= y < 60 + left.shape[0] and w > 20 and h > 20
    assert codes[1].bbox[0] >= 400
    assert reading_order(list(reversed(codes))) == codes


def test_bad_frames_are_refused_with_a_reason() -> None:
    with pytest.raises(ValueError, match="8-bit"):
        make_decoder("zxing").decode(np.zeros((10, 10), np.float32))
    with pytest.raises(ValueError, match="grey, BGR or BGRA"):
        make_decoder("zxing").decode(np.zeros((10, 10, 2), np.uint8))


def test_unknown_backend_names_the_choices() -> None:
    with pytest.raises(DecoderUnavailable, match="choose one of zxing, zbar"):
        make_decoder("quagga")


def test_missing_zbar_library_is_reported_plainly(monkeypatch: pytest.MonkeyPatch) -> None:
    # What pyzbar raises on a machine without libzbar0: the station must say it in plain words.
    import builtins

    real_import = builtins.__import__

    def no_zbar(name, *args, **kwargs):  # type: ignore[no-untyped-def]
        if name.startswith("pyzbar"):
            raise ImportError("Unable to find zbar shared library")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_zbar)
    with pytest.raises(DecoderUnavailable) as info:
        make_decoder("zbar")
    assert "system zbar library is missing" in info.value.message
    assert "libzbar0" in info.value.message
    assert decoders.backend_status()["zbar"] == info.value.reason
    line = decoders.describe_backends()
    assert line.startswith("zxing-cpp 3.") and "zbar unavailable: the system zbar library" in line


# -- the decode command -----------------------------------------------------------------------


def _run(*argv: str) -> tuple[int, str, str]:
    # The real entry point in its own process, as an operator runs it.
    proc = subprocess.run([sys.executable, "-m", "ui.cli", *argv], capture_output=True,
                          text=True, encoding="utf-8", timeout=120)
    return proc.returncode, proc.stdout, proc.stderr


def test_decode_command_json_one_object_per_image(tmp_path) -> None:
    good = SAMPLES / "qrcode-2" / "33.png"
    empty = SAMPLES / "falsepositives-1" / "01.webp"
    broken = tmp_path / "label.png"
    broken.write_bytes(b"not a picture")
    missing = tmp_path / "gone.png"
    status, out, _ = _run("decode", "--json", str(good), str(empty), str(broken), str(missing))
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["file"] for r in rows] == [str(good), str(empty), str(broken), str(missing)]
    [code] = rows[0]["codes"]
    assert code["text"] == "\x01\x10AD:SUB:阿;;" and code["format"] == "QRCode"
    assert len(code["position"]) == 4 and all(len(p) == 2 for p in code["position"])
    assert rows[1] == {"file": str(empty), "codes": []}
    assert rows[2]["codes"] == [] and "not a picture" in rows[2]["error"]
    assert "no such file" in rows[3]["error"]
    assert status == 1  # some files could not be read


def test_decode_command_text_output_escapes_control_characters() -> None:
    good = SAMPLES / "qrcode-2" / "33.png"
    status, out, _ = _run("decode", str(good), "--backend", "zxing")
    assert status == 0
    assert "1 code" in out and "'\\x01\\x10AD:SUB:阿;;'" in out


def test_decode_command_says_when_nothing_was_found_and_when_a_backend_is_unknown() -> None:
    empty = SAMPLES / "falsepositives-2" / "01.webp"
    status, out, _ = _run("decode", str(empty))
    assert status == 0
    assert out.startswith(f"{empty}: no QR code found (") and "Try the other backend" in out
    status, _, err = _run("decode", "--backend", "quagga", str(empty))
    assert status == 2 and "invalid choice: 'quagga'" in err


def test_decode_command_with_zbar() -> None:
    _zbar()
    status, out, _ = _run("decode", "--json", "--backend", "zbar",
                          str(SAMPLES / "qrcode-1" / "1.webp"))
    assert status == 0
    assert json.loads(out)["codes"][0]["text"].startswith("MEBKM:URL:")


def test_doctor_lists_the_decoders(tmp_path) -> None:
    status, out, _ = _run("--basedir", str(tmp_path), "doctor", "--json")
    report = json.loads(out)
    assert report["decoders"].startswith("zxing-cpp 3.")
    assert "zbar" in report["decoders"]


def test_registering_twice_adds_one_doctor_check() -> None:
    for _ in range(2):
        ui_cli.station_cli.build_parser(ui_cli.registrars())
    assert sum(1 for c in DOCTOR_CHECKS if c.__name__ == "doctor_decoders") == 1


@pytest.mark.parametrize("backend", ["zxing", "zbar"])
def test_a_16_bit_picture_of_a_label_is_read(backend: str, tmp_path: Path) -> None:
    # A label photo saved as 16-bit PNG (scanner apps, image editors): a picture like any other.
    decoder = _zbar() if backend == "zbar" else make_decoder(backend)
    grey = cv2.imread(str(SAMPLES / "qrcode-1" / "1.webp"), cv2.IMREAD_GRAYSCALE)
    path = tmp_path / "label16.png"
    cv2.imwrite(str(path), grey.astype(np.uint16) * 257)
    image = load_image(str(path))
    assert image.dtype == np.uint16
    expected = [c.text for c in decoder.decode(grey)]
    assert expected
    assert [c.text for c in decoder.decode(image)] == expected
    bgr16 = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    assert [c.text for c in decoder.decode(bgr16)] == expected


def test_decode_command_names_a_picture_the_decoder_cannot_take(tmp_path) -> None:
    # A 32-bit float TIFF: a picture, but not one the decoders take. Said, and the next file read.
    odd = tmp_path / "label.tiff"
    assert cv2.imwrite(str(odd), np.zeros((40, 40), np.float32))
    good = SAMPLES / "qrcode-1" / "1.webp"
    status, out, err = _run("decode", "--json", str(odd), str(good))
    assert "Traceback" not in err
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["file"] for r in rows] == [str(odd), str(good)]
    assert rows[0]["codes"] == [] and "8-bit" in rows[0]["error"]
    assert rows[1]["codes"]
    assert status == 1


@pytest.mark.parametrize("backend", ["zxing", "zbar"])
def test_a_code_on_a_transparent_background_is_read(backend: str) -> None:
    # A label exported as PNG with a transparent background: dark modules opaque, the rest
    # transparent black (what the colour under a transparent pixel often is). Shown on paper
    # or screen the background is light, and so must it be for the decoder.
    decoder = _zbar() if backend == "zbar" else make_decoder(backend)
    grey = cv2.cvtColor(load_image(str(SAMPLES / "qrcode-1" / "1.webp")), cv2.COLOR_BGR2GRAY)
    dark = grey < 128
    bgra = np.zeros((*grey.shape, 4), np.uint8)
    bgra[:, :, 3] = np.where(dark, 255, 0)
    expected = [c.text for c in decoder.decode(grey)]
    assert expected
    assert [c.text for c in decoder.decode(bgra)] == expected
