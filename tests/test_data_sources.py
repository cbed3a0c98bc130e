"""iter_records: folders, TFRecords and zips read in a fixed order, with faults named."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import pytest
from data_helpers import colour_of, image_id, jpeg_bytes, write_tfrecord_dataset

from cyclegan.data.images import decode_image
from cyclegan.data.records import BadRecordError
from cyclegan.data.sources import iter_records

SHARED = Path(__file__).resolve().parents[1] / "../shared/data/gan-getting-started"


def test_folder_is_recursive_sorted_and_skips_non_images(tmp_path: Path) -> None:
    (tmp_path / "b" / "deep").mkdir(parents=True)
    (tmp_path / "b" / "deep" / "z.JPG").write_bytes(jpeg_bytes(colour_of(3), 8))
    (tmp_path / "b" / "a.jpg").write_bytes(jpeg_bytes(colour_of(2), 8))
    (tmp_path / "a.jpeg").write_bytes(jpeg_bytes(colour_of(1), 8))
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / ".hidden.jpg").write_bytes(b"resource fork, not a JPEG")
    records = list(iter_records(tmp_path))
    assert [r.name for r in records] == ["a.jpeg", "b/a.jpg", "b/deep/z.JPG"]
    assert [image_id(decode_image(r.data, r.name)) for r in records] == [1, 2, 3]
    assert records[1].origin == str(tmp_path / "b" / "a.jpg")


def test_symlink_loop_is_visited_once(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "x.jpg").write_bytes(jpeg_bytes(colour_of(0), 8))
    os.symlink(tmp_path, tmp_path / "sub" / "loop")
    assert [r.name for r in iter_records(tmp_path)] == ["sub/x.jpg"]


def test_tfrecord_folder_and_single_file(tmp_path: Path) -> None:
    root = write_tfrecord_dataset(tmp_path, n_monet=7, n_photo=1, size=16, shards=3)
    records = list(iter_records(root / "monet_tfrec"))
    assert [r.name for r in records] == [f"monet{k:04d}" for k in range(7)]
    assert [image_id(decode_image(r.data, r.name)) for r in records] == list(range(7))
    first_file = sorted((root / "monet_tfrec").iterdir())[0]
    single = list(iter_records(first_file))
    assert [r.name for r in single] == ["monet0000"]
    assert single[0].origin == f"{first_file}#0"


def test_zip_of_images(tmp_path: Path) -> None:
    archive = tmp_path / "photos.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("set/b.png", b"")  # listed in name order, read lazily
        zf.writestr("set/a.jpg", jpeg_bytes(colour_of(5), 8))
        zf.writestr("__MACOSX/set/._a.jpg", b"metadata")
        zf.writestr("readme.md", b"text")
    records = list(iter_records(archive))
    assert [r.name for r in records] == ["set/a.jpg", "set/b.png"]
    assert records[0].origin == f"{archive}!set/a.jpg"


def test_corrupt_tfrecord_raises_naming_file_record_and_offset(tmp_path: Path) -> None:
    root = write_tfrecord_dataset(tmp_path, n_monet=3, n_photo=1, size=16, shards=1)
    path = next((root / "monet_tfrec").iterdir())
    data = bytearray(path.read_bytes())
    path.write_bytes(bytes(data[:-10]))
    with pytest.raises(BadRecordError, match="truncated") as caught:
        list(iter_records(path))
    assert caught.value.record == 2
    assert str(path) in str(caught.value)
    assert f"record 2 at byte {caught.value.offset}" in str(caught.value)


def test_missing_and_unsupported_paths(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nowhere"):
        list(iter_records(tmp_path / "nowhere"))
    (tmp_path / "x.csv").write_text("a,b")
    with pytest.raises(ValueError, match=r"x\.csv"):
        list(iter_records(tmp_path / "x.csv"))


@pytest.mark.realdata
def test_kaggle_monet_tfrecords_read_completely() -> None:
    if not (SHARED / "monet_tfrec").is_dir():
        pytest.skip(f"Kaggle data not found at {SHARED}")
    records = list(iter_records(SHARED / "monet_tfrec"))
    assert len(records) == 300
    assert len({r.name for r in records}) == 300
    assert decode_image(records[0].data, records[0].name).shape == (3, 256, 256)
