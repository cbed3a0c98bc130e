"""predict.py end to end on tiny generators: right pixels, every file accounted for, safe writes."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cyclegan.data.records import encode_example, write_tfrecord
from cyclegan.data.transforms import to_float, to_uint8
from cyclegan.inference import outputs
from cyclegan.inference.cli import run
from cyclegan.inference.tiling import reflect_pad
from tests.predict_helpers import (
    REAL_DATA,
    REPO,
    TINY_RESNET,
    compose_predict,
    encoded,
    photo,
    write_checkpoint,
)


@pytest.fixture
def ckpt(tmp_path: Path) -> Path:
    path = tmp_path / "last.ckpt"
    write_checkpoint(path)
    return path


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _expected(generator: torch.nn.Module, image: np.ndarray, multiple: int) -> np.ndarray:
    """What the generator makes of an RGB array: reflect pad, float32, crop, uint8."""
    tensor = torch.from_numpy(image).permute(2, 0, 1)
    padded, (top, left, h, w) = reflect_pad(tensor, multiple)
    with torch.no_grad():
        out = to_uint8(generator(to_float(padded[None])))[0]
    return out[:, top : top + h, left : left + w].permute(1, 2, 0).numpy()


def _read(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.array(image)


def test_outputs_are_the_generator_applied_to_each_image_at_its_own_size(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    generators = write_checkpoint(tmp_path / "last.ckpt", TINY_RESNET)
    images = {"a.png": photo(40, 24, 1), "sub dir/b.png": photo(13, 50, 2), "c.png": photo(1, 1)}
    for name, array in images.items():
        _write(tmp_path / "in" / name, encoded(array, "PNG"))
    cfg = compose_predict(
        ckpt=tmp_path / "last.ckpt",
        input_dir=tmp_path / "in",
        output_dir=tmp_path / "out",
        direction="monet2photo",
        format="png",
        precision=32,
    )
    assert run(cfg) == 0
    for name, array in images.items():
        out = _read(tmp_path / "out" / name)
        assert out.shape == array.shape
        if name == "c.png":
            # A 1x1 image pads to a constant one: instance norm then divides rounding noise by
            # sqrt(eps), so equivalent computations give different pixels. Size is what counts.
            continue
        expected = _expected(generators["monet2photo"], array, 4)
        assert np.abs(out.astype(int) - expected).max() <= 1  # channels_last rounding
        other = _expected(generators["photo2monet"], array, 4)
        assert np.abs(out.astype(int) - other).mean() > 5  # the other generator differs
    assert "3 converted, 0 skipped, 0 failed" in capsys.readouterr().out


def test_modes_orientation_and_formats_come_out_rgb_at_display_size(
    tmp_path: Path, ckpt: Path
) -> None:
    rgb = photo(48, 32)
    rotated = Image.fromarray(rgb)
    exif = rotated.getexif()
    exif[0x0112] = 6  # displayed rotated by 90 degrees: 32 wide, 48 high
    inputs = {
        "exif.jpg": encoded(rotated, "JPEG", exif=exif.tobytes()),
        "gray.png": encoded(Image.fromarray(rgb[..., 0]), "PNG"),
        "rgba.png": encoded(Image.fromarray(rgb).convert("RGBA"), "PNG"),
        "cmyk.jpg": encoded(Image.fromarray(rgb).convert("CMYK"), "JPEG"),
        "deep.png": encoded(Image.fromarray(rgb[..., 0].astype(np.uint16) * 257), "PNG"),
        "webp.webp": encoded(rgb, "WEBP"),
        "bmp.bmp": encoded(rgb, "BMP"),
        "tiff.tiff": encoded(rgb, "TIFF"),
    }
    for name, data in inputs.items():
        _write(tmp_path / "in" / name, data)
    cfg = compose_predict(ckpt=ckpt, input_dir=tmp_path / "in", output_dir=tmp_path / "out")
    assert run(cfg) == 0
    for name in inputs:
        with Image.open((tmp_path / "out" / name).with_suffix(".jpg")) as out:
            assert out.mode == "RGB"
            assert out.size == ((32, 48) if name == "exif.jpg" else (48, 32))


def _hostile_folder(root: Path) -> dict[str, str]:
    """A folder with good and bad inputs; returns bad name -> expected reason fragment."""
    good = encoded(photo(40, 30))
    _write(root / "good.jpg", good)
    _write(root / "nested" / "deeper" / "good 2.JPG", good)
    _write(root / "ünïcødé naïve ✓.jpg", good)
    _write(root / "tiny.png", encoded(photo(1, 1), "PNG"))
    _write(root / "empty.jpg", b"")
    _write(root / "truncated.jpg", good[: len(good) // 3])
    _write(root / "text.jpg", b"this is not an image\n" * 20)
    _write(root / "big.png", encoded(photo(300, 200), "PNG"))  # over max_pixels below
    _write(root / "notes.txt", b"ignored")
    os.symlink(root, root / "nested" / "loop")  # a symlink loop
    os.symlink(root / "missing.jpg", root / "dangling.jpg")
    os.mkfifo(root / "pipe.jpg")  # reading it would block forever
    return {
        "empty.jpg": "0 bytes",
        "truncated.jpg": "cannot decode image",
        "text.jpg": "not a recognised image format",
        "big.png": "exceeds max_pixels",
        "dangling.jpg": "cannot read file",
        "pipe.jpg": "not a regular file",
    }


def test_a_hostile_folder_converts_every_good_image_and_names_every_bad_one(
    tmp_path: Path, ckpt: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = _hostile_folder(tmp_path / "in")
    cfg = compose_predict(
        ckpt=ckpt,
        input_dir=tmp_path / "in",
        output_dir=tmp_path / "out",
        max_pixels=50_000,
        num_workers=2,
    )
    assert run(cfg) == 1
    printed = capsys.readouterr()
    produced = sorted(
        p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.jpg")
    )
    assert produced == ["good.jpg", "nested/deeper/good 2.jpg", "tiny.jpg", "ünïcødé naïve ✓.jpg"]
    assert "4 converted, 0 skipped, 6 failed, 2 ignored" in printed.out
    for name, reason in bad.items():
        assert f"  {name}: " in printed.out
        assert reason in printed.out.split(f"  {name}: ", 1)[1].splitlines()[0]
    # Files that are not images and the loop are listed, not passed over in silence.
    assert "notes.txt (not an image or TFRecord file (extension))" in printed.out
    assert "nested/loop/ (link to a folder already read)" in printed.out


def test_rerun_skips_existing_outputs_and_overwrite_redoes_them(
    tmp_path: Path, ckpt: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for index in range(3):
        _write(tmp_path / "in" / f"{index}.jpg", encoded(photo(32, 32, index)))
    _write(tmp_path / "out" / "1.jpg", b"an earlier result")
    cfg = compose_predict(ckpt=ckpt, input_dir=tmp_path / "in", output_dir=tmp_path / "out")
    assert run(cfg) == 0
    assert (tmp_path / "out" / "1.jpg").read_bytes() == b"an earlier result"
    assert "2 converted, 1 skipped, 0 failed" in capsys.readouterr().out

    assert run(cfg) == 0
    assert "0 converted, 3 skipped, 0 failed" in capsys.readouterr().out

    assert run(compose_predict(**{**dict(cfg), "overwrite": True})) == 0
    assert "3 converted, 0 skipped" in capsys.readouterr().out
    assert _read(tmp_path / "out" / "1.jpg").shape == (32, 32, 3)


def test_an_interrupted_write_leaves_neither_a_partial_output_nor_a_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(self: Image.Image, fp: object, *args: object, **kwargs: object) -> None:
        fp.write(b"\xff\xd8\xff half a JPEG")  # type: ignore[attr-defined]
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", crash)
    target = tmp_path / "out" / "x.jpg"
    with pytest.raises(OSError, match="disk full"):
        outputs.write_image(torch.zeros(3, 8, 8, dtype=torch.uint8), target, overwrite=False)
    assert list((tmp_path / "out").iterdir()) == []


def test_write_never_replaces_an_existing_file_without_overwrite(tmp_path: Path) -> None:
    target = tmp_path / "x.png"
    target.write_bytes(b"keep me")
    with pytest.raises(FileExistsError):
        outputs.write_image(torch.zeros(3, 8, 8, dtype=torch.uint8), target, overwrite=False)
    assert target.read_bytes() == b"keep me"
    outputs.write_image(torch.zeros(3, 8, 8, dtype=torch.uint8), target, overwrite=True)
    assert _read(target).shape == (8, 8, 3)
    assert [p.name for p in tmp_path.iterdir()] == ["x.png"]


@pytest.mark.parametrize(
    "name", ["../evil", "a/../../evil", "/etc/evil", "C:\\evil", "..", "bad\x00name", ""]
)
def test_names_that_could_escape_the_output_folder_are_refused(name: str) -> None:
    with pytest.raises(outputs.UnsafeNameError):
        outputs.output_relpath(name, "jpg")


def test_tfrecord_names_are_kept_inside_output_dir(
    tmp_path: Path, ckpt: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    names = ["fb97febc82", "../../escaped", "/tmp/absolute", "ok/../../../up", "sub/inner.png"]
    payloads = [
        encode_example({"image_name": n.encode(), "image": encoded(photo(32, 32, i))})
        for i, n in enumerate(names)
    ]
    payloads.append(encode_example({"image_name": b"no-image"}))
    (tmp_path / "in").mkdir()
    write_tfrecord(tmp_path / "in" / "photo00-6.tfrec", payloads)
    cfg = compose_predict(ckpt=ckpt, input_dir=tmp_path / "in", output_dir=tmp_path / "a" / "out")
    assert run(cfg) == 1
    printed = capsys.readouterr().out
    assert "2 converted, 0 skipped, 4 failed" in printed
    produced = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.jpg"))
    assert produced == ["a/out/fb97febc82.jpg", "a/out/sub/inner.jpg"]
    assert "photo00-6.tfrec#5: no 'image' feature" in printed


def test_two_inputs_with_one_output_name_do_not_clobber_each_other(
    tmp_path: Path, ckpt: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write(tmp_path / "in" / "a.jpg", encoded(photo(32, 32, 1)))
    _write(tmp_path / "in" / "a.png", encoded(photo(32, 32, 2), "PNG"))
    cfg = compose_predict(ckpt=ckpt, input_dir=tmp_path / "in", output_dir=tmp_path / "out")
    assert run(cfg) == 1
    assert "a.png: its output a.jpg is already the output of a.jpg" in capsys.readouterr().out


def test_large_images_are_tiled_and_batches_mix_sizes(
    tmp_path: Path, ckpt: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sizes = [(32, 32), (32, 32), (150, 90), (32, 32), (20, 33)]
    for index, (w, h) in enumerate(sizes):
        _write(tmp_path / "in" / f"{index}.png", encoded(photo(w, h, index), "PNG"))
    cfg = compose_predict(
        ckpt=ckpt, input_dir=tmp_path / "in", output_dir=tmp_path / "out", tile_overlap=16
    )
    assert run(cfg) == 0
    for index, (w, h) in enumerate(sizes):
        assert _read(tmp_path / "out" / f"{index}.jpg").shape == (h, w, 3)


def test_bf16_output_stays_close_to_float32(tmp_path: Path, ckpt: Path) -> None:
    from cyclegan.accel import detect_cpu

    _write(tmp_path / "in" / "x.png", encoded(photo(64, 64), "PNG"))
    results = {}
    for precision in ("bf16", "32"):
        out = tmp_path / precision
        cfg = compose_predict(
            ckpt=ckpt, input_dir=tmp_path / "in", output_dir=out, precision=precision, format="png"
        )
        slow_bf16 = precision == "bf16" and not detect_cpu().native_bf16
        # An explicit bf16 on a CPU that emulates it runs, with a warning that says so.
        with pytest.warns(UserWarning, match="without native bf16") if slow_bf16 else nullcontext():
            assert run(cfg) == 0
        results[precision] = _read(out / "x.png").astype(int)
    difference = np.abs(results["bf16"] - results["32"])
    assert difference.mean() < 2.0
    assert difference.max() <= 16


def test_submission_zip_is_validated(
    tmp_path: Path, ckpt: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    payloads = [
        encode_example({"image_name": f"img{i}".encode(), "image": encoded(photo(300, 200, i))})
        for i in range(5)
    ]
    (tmp_path / "tfrec").mkdir()
    write_tfrecord(tmp_path / "tfrec" / "photo00-5.tfrec", payloads)
    cfg = compose_predict(
        ckpt=ckpt,
        input_dir=tmp_path / "tfrec",
        output_dir=tmp_path / "out",
        submission=True,
        submission_min_images=1,
        format="png",  # submission forces JPEG
        tile_size=256,
    )
    assert run(cfg) == 0
    assert (
        "images.zip: 5 JPEGs, all 256x256 RGB; count within 1-10000: OK" in capsys.readouterr().out
    )
    with zipfile.ZipFile(tmp_path / "out" / "images.zip") as archive:
        assert sorted(archive.namelist()) == [f"img{i}.jpg" for i in range(5)]
        with Image.open(archive.open("img3.jpg")) as image:
            assert (image.format, image.mode, image.size) == ("JPEG", "RGB", (256, 256))

    # With the competition's bounds five images are not a valid submission: say so, exit 1.
    assert run(compose_predict(**{**dict(cfg), "submission_min_images": 7000})) == 1
    assert "5 images; the competition accepts 7000-10000" in capsys.readouterr().out


def test_validation_catches_wrong_size_mode_and_format(tmp_path: Path) -> None:
    from cyclegan.inference.submission import validate_submission

    zip_path = tmp_path / "images.zip"
    with zipfile.ZipFile(zip_path, "w") as archive:
        archive.writestr("ok.jpg", encoded(photo(256, 256)))
        archive.writestr("small.jpg", encoded(photo(128, 256)))
        archive.writestr("gray.jpg", encoded(photo(256, 256)[..., 0]))
        archive.writestr("png.jpg", encoded(photo(256, 256), "PNG"))
    report = validate_submission(zip_path, min_images=1)
    assert not report.ok
    assert sorted(p.split(":")[0] for p in report.problems) == ["gray.jpg", "png.jpg", "small.jpg"]


def test_preview_writes_a_contact_sheet(tmp_path: Path, ckpt: Path) -> None:
    for index in range(5):
        _write(tmp_path / "in" / f"{index}.jpg", encoded(photo(40, 30, index)))
    cfg = compose_predict(
        ckpt=ckpt, input_dir=tmp_path / "in", output_dir=tmp_path / "out", preview=4
    )
    assert run(cfg) == 0
    with Image.open(tmp_path / "out-preview.png") as sheet:
        assert sheet.format == "PNG"
        # 4 pairs: 2 per row, 2 rows of 192 px cells with 4 px gaps.
        assert sheet.size == (2 * (2 * 192 + 4) + 3 * 4, 2 * 192 + 3 * 4)


def test_empty_input_and_missing_options_fail_clearly(tmp_path: Path, ckpt: Path) -> None:
    (tmp_path / "in").mkdir()
    cfg = compose_predict(ckpt=ckpt, input_dir=tmp_path / "in", output_dir=tmp_path / "out")
    assert run(cfg) == 1
    with pytest.raises(FileNotFoundError, match="nowhere"):
        run(compose_predict(ckpt=ckpt, input_dir=tmp_path / "nowhere"))
    with pytest.raises(ValueError, match="input_dir is required"):
        run(compose_predict(ckpt=ckpt, output_dir=tmp_path / "out"))
    with pytest.raises(ValueError, match="precision='16'"):
        run(compose_predict(ckpt=ckpt, input_dir=tmp_path / "in", precision=16))


@pytest.mark.slow
def test_command_line_exit_codes_and_no_stray_hydra_folders(tmp_path: Path, ckpt: Path) -> None:
    _write(tmp_path / "in" / "good.jpg", encoded(photo(32, 32)))
    _write(tmp_path / "in" / "bad.jpg", b"nope")
    command = [sys.executable, str(REPO / "predict.py"), f"ckpt={ckpt}"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    work = tmp_path / "cwd"
    work.mkdir()

    def predict(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*command, *args], cwd=work, env=env, capture_output=True, text=True, timeout=120
        )

    result = predict(f"input_dir={tmp_path / 'in'}", f"output_dir={tmp_path / 'out'}")
    assert result.returncode == 1, result.stderr
    assert "1 converted, 0 skipped, 1 failed" in result.stdout
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["good.jpg"]
    assert list(work.iterdir()) == []  # no outputs/, no .hydra/, no log file

    missing = predict(f"input_dir={tmp_path / 'in'}", "ckpt=nothing.ckpt")
    assert missing.returncode == 2
    assert "nothing.ckpt: checkpoint file not found" in missing.stderr


@pytest.mark.realdata
@pytest.mark.slow
def test_real_kaggle_paintings_in_a_tfrecord(tmp_path: Path, ckpt: Path) -> None:
    shard = next(iter(sorted((REAL_DATA / "monet_tfrec").glob("*.tfrec"))), None)
    if shard is None:
        pytest.skip(f"{REAL_DATA} not present")
    cfg = compose_predict(
        ckpt=ckpt,
        input_dir=shard,
        output_dir=tmp_path / "out",
        direction="monet2photo",
        batch_size=8,
        tile_size=256,
    )
    assert run(cfg) == 0
    outputs_written = list((tmp_path / "out").glob("*.jpg"))
    assert len(outputs_written) == int(shard.stem.split("-")[1])


def test_zip_input_members_are_converted_or_reported(
    tmp_path: Path, ckpt: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    archive_path = tmp_path / "photos.zip"
    with zipfile.ZipFile(archive_path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("trip/a.jpg", encoded(photo(32, 32, 1)))
        archive.writestr("../evil.jpg", encoded(photo(32, 32, 2)))
        archive.writestr("__MACOSX/trip/._a.jpg", b"resource fork")
        archive.writestr("list.csv", b"a,b")
        archive.writestr("broken.jpg", encoded(photo(32, 32, 3)))
    # Damage the stored bytes of broken.jpg so its CRC check fails on reading.
    data = bytearray(archive_path.read_bytes())
    with zipfile.ZipFile(archive_path) as archive:
        info = archive.getinfo("broken.jpg")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    data[start + info.compress_size // 2] ^= 0xFF
    archive_path.write_bytes(bytes(data))

    cfg = compose_predict(ckpt=ckpt, input_dir=archive_path, output_dir=tmp_path / "out")
    assert run(cfg) == 1
    printed = capsys.readouterr().out
    assert "1 converted, 0 skipped, 2 failed, 2 ignored" in printed
    assert "../evil.jpg: name '../evil.jpg' contains '..'" in printed
    assert "broken.jpg: " in printed
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.jpg")) == [
        "out/trip/a.jpg"
    ]
    (tmp_path / "list.csv").write_text("a,b")
    with pytest.raises(ValueError, match="list.csv: not a folder, TFRecord file, zip"):
        run(compose_predict(ckpt=ckpt, input_dir=tmp_path / "list.csv"))


@pytest.mark.parametrize(("cpus", "workers"), [(1, 0), (2, 0), (4, 0), (8, 2), (64, 4)])
def test_auto_workers_leave_small_cpus_to_the_generator(
    monkeypatch: pytest.MonkeyPatch, cpus: int, workers: int
) -> None:
    from cyclegan.inference.options import auto_workers

    monkeypatch.setattr(os, "cpu_count", lambda: cpus)
    assert auto_workers("cpu") == workers


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims ``width x height`` pixels but holds no image data."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def test_decompression_bombs_are_refused_from_the_header(
    tmp_path: Path, ckpt: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write(tmp_path / "in" / "bomb.png", _png_header_only(30000, 30000))  # 900 MP, 67 bytes
    _write(tmp_path / "in" / "big.png", _png_header_only(12000, 12000))  # over max_pixels
    cfg = compose_predict(ckpt=ckpt, input_dir=tmp_path / "in", output_dir=tmp_path / "out")
    assert run(cfg) == 1
    printed = capsys.readouterr().out
    assert "bomb.png: 900.0 megapixels exceeds max_pixels=80,000,000" in printed
    assert "big.png: 12000x12000 = 144.0 megapixels exceeds max_pixels=80,000,000" in printed


def test_one_options_object_carries_every_option_of_the_config(tmp_path: Path) -> None:
    from cyclegan.inference.options import PredictOptions

    cfg = compose_predict(
        input_dir=tmp_path / "in",
        output_dir=tmp_path / "out",
        format="png",
        submission=True,
        preview=3,
        precision=32,
        tile_size=96,
    )
    options = PredictOptions.from_config(cfg)
    # A submission forces 256x256 JPEGs and names its zip; the sheet goes beside the outputs.
    assert (options.fmt, options.resize) == ("jpg", 256)
    assert options.submission_zip == tmp_path / "out" / "images.zip"
    assert options.preview_path == (tmp_path / "out").resolve().parent / "out-preview.png"
    assert (options.precision, options.tile_size, options.tile_overlap) == ("32", 96, 16)
    assert options.input_path == tmp_path / "in"
    # The web app's per-upload options: the same object with its own input and output.
    upload = PredictOptions.from_config(cfg, input_path=tmp_path / "a.jpg", batch_size=1)
    assert (upload.input_path, upload.batch_size, upload.tile_size) == (tmp_path / "a.jpg", 1, 96)
    with pytest.raises(ValueError, match="batch_size must be at least 1, got 0"):
        PredictOptions.from_config(cfg, batch_size=0)
    without_input = PredictOptions.from_config(compose_predict(output_dir=tmp_path / "out"))
    with pytest.raises(ValueError, match="input_dir is required"):
        without_input.require_input()
