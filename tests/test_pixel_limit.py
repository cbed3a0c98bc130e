"""One pixel limit, read from the header before decoding, on every decode path: training
(indexing), ``python -m cyclegan.data inspect`` and ``pack``, evaluation and prediction."""

import io
import struct
from pathlib import Path

import pytest
from PIL import Image

from cyclegan.data.__main__ import main as data_main
from cyclegan.data.images import BadImageError, decode_image
from cyclegan.data.index import IndexCache, index_domain
from cyclegan.data.pack import pack_folder
from cyclegan.data.records import encode_example, write_tfrecord
from cyclegan.data.sources import ImageRecord
from cyclegan.metrics.evaluation import image_batches

SIDE = 9000  # 81 megapixels declared in a few hundred bytes: over the 80 M limit


def declared_jpeg(width: int, height: int) -> bytes:
    """A tiny JPEG whose frame header claims ``width x height``."""
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 100, 50)).save(buffer, "JPEG", quality=50)
    data = bytearray(buffer.getvalue())
    sof = data.index(b"\xff\xc0")
    struct.pack_into(">HH", data, sof + 5, height, width)
    return bytes(data)


BOMB = declared_jpeg(SIDE, SIDE)


def test_decode_refuses_a_declared_size_over_the_limit_by_name():
    assert len(BOMB) < 1000
    with pytest.raises(BadImageError, match=r"bomb\.jpg: image of 9000x9000 .* exceeds the limit"):
        decode_image(BOMB, "bomb.jpg")
    assert decode_image(declared_jpeg(16, 16), "fine.jpg").shape == (3, 16, 16)


def _bomb_dataset(root: Path) -> Path:
    good = declared_jpeg(16, 16)
    for domain in ("photo", "monet"):
        folder = root / f"{domain}_tfrec"
        folder.mkdir(parents=True)
        records = [
            encode_example({"image_name": f"{domain}-ok".encode(), "image": good}),
            encode_example({"image_name": f"{domain}-bomb".encode(), "image": BOMB}),
        ]
        write_tfrecord(folder / f"{domain}00-2.tfrec", records)
    return root


def test_training_index_counts_the_bomb_as_a_bad_record(tmp_path):
    root = _bomb_dataset(tmp_path / "data")
    index = index_domain("photo", root / "photo_tfrec", IndexCache(tmp_path / "idx"))
    assert len(index) == 1
    (bad,) = index.bad
    assert bad.image_name == "photo-bomb"
    assert "exceeds the limit" in bad.reason


def test_inspect_reports_the_bomb(tmp_path, capsys):
    root = _bomb_dataset(tmp_path / "data")
    assert data_main(["inspect", str(root), "--index-dir", str(tmp_path / "idx")]) == 1
    out = capsys.readouterr().out
    assert "photo-bomb" in out
    assert "exceeds the limit" in out


def test_pack_refuses_or_skips_the_bomb(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    (folder / "ok.jpg").write_bytes(declared_jpeg(16, 16))
    (folder / "bomb.jpg").write_bytes(BOMB)
    with pytest.raises(BadImageError, match="bomb.jpg: image of 9000x9000"):
        pack_folder(folder, tmp_path / "out1", "photo")
    result = pack_folder(folder, tmp_path / "out2", "photo", skip_bad=True)
    assert result.records == 1
    assert len(result.skipped) == 1
    assert "exceeds the limit" in result.skipped[0]


def test_evaluation_skips_the_bomb_and_reports_it():
    bad: list[tuple[str, str]] = []
    records = [
        ImageRecord("ok.jpg", declared_jpeg(16, 16), "x/ok.jpg"),
        ImageRecord("bomb.jpg", BOMB, "x/bomb.jpg"),
    ]
    batches = list(image_batches(records, 8, bad))
    assert [tuple(b.shape) for b in batches] == [(1, 3, 16, 16)]
    assert bad[0][0] == "x/bomb.jpg"
    assert "exceeds the limit" in bad[0][1]


def test_predict_default_limit_is_the_shared_one():
    from omegaconf import OmegaConf

    from cyclegan.data.images import MAX_PIXELS
    from cyclegan.inference.options import PredictOptions

    conf = OmegaConf.load(Path(__file__).resolve().parents[1] / "conf" / "predict.yaml")
    assert conf.max_pixels == MAX_PIXELS == PredictOptions(Path("."), Path(".")).max_pixels
