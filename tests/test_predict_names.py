"""Names the filesystem refuses fail alone; colliding outputs are reported; the contact sheet
stays out of the output folder."""

import zipfile
from pathlib import Path

import pytest
from PIL import Image
from predict_helpers import compose_predict, encoded, photo, write_checkpoint

from cyclegan.data.records import encode_example, write_tfrecord
from cyclegan.inference.cli import run

LONG = "n" * 300  # NAME_MAX is 255 bytes on ext4, xfs, btrfs, tmpfs, APFS


@pytest.fixture
def ckpt(tmp_path: Path) -> Path:
    path = tmp_path / "last.ckpt"
    write_checkpoint(path)
    return path


def _files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def test_a_name_too_long_for_the_filesystem_fails_alone(tmp_path, ckpt, capsys):
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "good.jpg").write_bytes(encoded(photo(32, 32)))
    records = [
        encode_example({"image_name": name.encode(), "image": encoded(photo(32, 32, 1))})
        for name in ("fine", LONG)
    ]
    write_tfrecord(inputs / "x.tfrec", records)
    with zipfile.ZipFile(inputs / "nested.zip", "w") as archive:
        archive.writestr(f"{LONG}.jpg", encoded(photo(32, 32, 2)))
    cfg = compose_predict(ckpt=ckpt, input_dir=inputs, output_dir=tmp_path / "out", precision=32)
    assert run(cfg) == 1
    out = capsys.readouterr().out
    assert _files(tmp_path / "out") == ["fine.jpg", "good.jpg"]
    assert "2 converted, 0 skipped, 1 failed" in out
    assert f"{LONG}: name part" in out
    assert "longer than the 255 bytes" in out

    zip_cfg = compose_predict(
        ckpt=ckpt, input_dir=inputs / "nested.zip", output_dir=tmp_path / "z", precision=32
    )
    assert run(zip_cfg) == 1
    assert "longer than the 255 bytes" in capsys.readouterr().out


def test_inputs_mapping_to_one_output_are_reported_even_with_overwrite(tmp_path, ckpt, capsys):
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "a.jpg").write_bytes(encoded(photo(32, 32, 0)))
    (inputs / "a.png").write_bytes(encoded(photo(32, 32, 1), "PNG"))
    write_tfrecord(
        inputs / "r.tfrec",
        [encode_example({"image_name": b"a", "image": encoded(photo(32, 32, 2))})],
    )
    cfg = compose_predict(
        ckpt=ckpt, input_dir=inputs, output_dir=tmp_path / "out", overwrite=True, precision=32
    )
    assert run(cfg) == 1
    out = capsys.readouterr().out
    assert "1 converted, 0 skipped, 2 failed" in out
    assert out.count("its output a.jpg is already the output of a.jpg") == 2


def test_the_contact_sheet_sits_beside_the_outputs_not_among_them(tmp_path, ckpt, capsys):
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name in ("preview", "b", "c"):
        (inputs / f"{name}.jpg").write_bytes(encoded(photo(32, 32, len(name))))
    out_dir = tmp_path / "out"
    cfg = compose_predict(
        ckpt=ckpt, input_dir=inputs, output_dir=out_dir, format="png", preview=2, precision=32
    )
    assert run(cfg) == 0
    # Only the three stylized images are in the output folder; preview.png is one of them.
    assert _files(out_dir) == ["b.png", "c.png", "preview.png"]
    sheet = tmp_path / "out-preview.png"
    assert f"-> {sheet}" in capsys.readouterr().out
    with Image.open(sheet) as image, Image.open(out_dir / "preview.png") as output:
        assert image.size != output.size  # the sheet, not the stylized image

    inside = compose_predict(
        ckpt=ckpt, input_dir=inputs, output_dir=out_dir, preview=2, preview_path=out_dir / "s.png"
    )
    with pytest.raises(ValueError, match="preview_path=.* is inside output_dir"):
        run(inside)
