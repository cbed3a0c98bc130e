"""Names from data never reach the terminal or the logs with raw control characters."""

import logging
from pathlib import Path

import pytest
from predict_helpers import compose_predict, encoded, photo, write_checkpoint

from cyclegan.data.__main__ import main as data_main
from cyclegan.data.datamodule import CycleGANDataModule
from cyclegan.data.images import BadImageError, decode_image
from cyclegan.data.records import BadRecordError, encode_example, write_tfrecord
from cyclegan.inference.cli import run

HOSTILE = "fake\n  bad: all is fine\x1b[2J\x00\u202egpj.exe"
RAW = ("\n  bad: all", "\x1b", "\x00", "\u202e")


def _clean(text: str) -> None:
    for raw in RAW:
        assert raw not in text, f"raw {raw!r} in {text!r}"
    assert "\\x1b[2J\\x00\\u202egpj.exe" in text


def test_error_messages_escape_names():
    with pytest.raises(BadImageError) as raised:
        decode_image(b"not an image", HOSTILE)
    _clean(str(raised.value))
    _clean(str(BadRecordError(f"/data/{HOSTILE}.tfrec", 3, 40, "broken", HOSTILE)))


def _dataset(root: Path) -> Path:
    good = encoded(photo(32, 32))
    for domain in ("photo", "monet"):
        folder = root / f"{domain}_tfrec"
        folder.mkdir(parents=True)
        records = [
            encode_example({"image_name": b"fine", "image": good}),
            encode_example({"image_name": HOSTILE.encode(), "image": b"\x00" * 50}),
        ]
        write_tfrecord(folder / f"{domain}00-2.tfrec", records)
    return root


def test_inspect_prints_escaped_names(tmp_path, capsys):
    root = _dataset(tmp_path / "data")
    assert data_main(["inspect", str(root), "--index-dir", str(tmp_path / "idx")]) == 1
    _clean(capsys.readouterr().out)


def test_training_logs_escaped_names(tmp_path, caplog):
    root = _dataset(tmp_path / "data")
    datamodule = CycleGANDataModule(
        root, image_size=32, num_workers=0, on_bad_record="skip", index_dir=str(tmp_path / "i")
    )
    with caplog.at_level(logging.WARNING, logger="cyclegan"):
        datamodule.setup()
    (message,) = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()][:1]
    _clean(message)


def test_predict_reports_escaped_names(tmp_path, capsys):
    ckpt = tmp_path / "last.ckpt"
    write_checkpoint(ckpt)
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "ok.jpg").write_bytes(encoded(photo(32, 32)))
    write_tfrecord(
        inputs / "x.tfrec",
        [encode_example({"image_name": HOSTILE.encode(), "image": encoded(photo(32, 32))})],
    )
    (inputs / "esc\x1b[2Jape.jpg").write_bytes(b"not an image")
    cfg = compose_predict(ckpt=ckpt, input_dir=inputs, output_dir=tmp_path / "out", precision=32)
    assert run(cfg) == 1
    out = capsys.readouterr().out
    _clean(out)
    assert "esc\\x1b[2Jape.jpg" in out
