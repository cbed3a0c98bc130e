"""The data command: inspect, pack and demo."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from data_helpers import colour_of, image_id, jpeg_bytes, write_tfrecord_dataset
from PIL import Image

from cyclegan.data.__main__ import main
from cyclegan.data.datamodule import CycleGANDataModule
from cyclegan.data.demo import build_demo_dataset
from cyclegan.data.images import BadImageError, decode_image
from cyclegan.data.records import parse_example, scan_tfrecord
from cyclegan.data.sources import iter_records


def test_inspect_reports_counts_sizes_and_crc(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_tfrecord_dataset(tmp_path / "d", n_monet=3, n_photo=5, size=24, shards=2)
    assert main(["inspect", str(root), "--index-dir", str(tmp_path / "idx")]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[1:]}
    assert rows["photo_tfrec/"].split()[1:5] == ["2", "5", "0", "24x24"]
    assert rows["photo_tfrec/"].endswith("(5)    ok (5 records verified)")
    assert rows["monet_tfrec/"].split()[1:5] == ["2", "3", "0", "24x24"]
    assert rows["monet_tfrec/"].endswith("ok (3 records verified)")


def test_inspect_lists_bad_records_and_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_tfrecord_dataset(tmp_path / "d", n_monet=3, n_photo=5, size=24, shards=1)
    path = next((root / "photo_tfrec").glob("*.tfrec"))
    path.write_bytes(path.read_bytes()[:-7])
    assert main(["inspect", str(root), "--index-dir", str(tmp_path / "idx")]) == 1
    out = capsys.readouterr().out
    assert f"bad: {path}: record 4 at byte " in out
    assert "file truncated" in out
    photo_row = next(line for line in out.splitlines() if "photo_tfrec/" in line)
    assert photo_row.split()[1:4] == ["1", "4", "1"]  # files, readable records, bad
    assert photo_row.endswith("ok (4 records verified), 1 truncated")
    assert main(["inspect", str(tmp_path / "nothing")]) == 2


def test_pack_writes_kaggle_schema_shards_readable_by_the_datamodule(tmp_path: Path) -> None:
    folder = tmp_path / "paintings"
    (folder / "sub").mkdir(parents=True)
    for k in range(4):
        (folder / f"p{k}.jpg").write_bytes(jpeg_bytes(colour_of(k), 20))
    png = io.BytesIO()
    Image.new("RGB", (20, 20), colour_of(4)).save(png, format="PNG")
    (folder / "sub" / "p4.png").write_bytes(png.getvalue())
    out = tmp_path / "packed" / "monet_tfrec"
    assert main(["pack", str(folder), str(out), "--records-per-shard", "2"]) == 0
    assert sorted(p.name for p in out.glob("*.tfrec")) == [
        "monet00-2.tfrec",
        "monet01-2.tfrec",
        "monet02-1.tfrec",
    ]
    first = parse_example(next(iter(scan_tfrecord(out / "monet00-2.tfrec")))[1])
    assert first["target"] == b"monet"
    assert first["image"] == (folder / "p0.jpg").read_bytes()  # plain JPEGs kept byte for byte
    records = list(iter_records(out))
    assert [r.name for r in records] == ["p0", "p1", "p2", "p3", "sub/p4"]
    assert [image_id(decode_image(r.data, r.name)) for r in records] == [0, 1, 2, 3, 4]
    assert records[-1].data[:3] == b"\xff\xd8\xff"  # the PNG was re-encoded as JPEG

    photos = tmp_path / "packed" / "photo_tfrec"
    assert main(["pack", str(folder), str(photos), "--records-per-shard", "10"]) == 0
    dm = CycleGANDataModule(str(tmp_path / "packed"), image_size=16, num_workers=0)
    assert (dm.num_records("photo"), dm.num_records("monet")) == (5, 5)
    with pytest.raises(FileExistsError, match="already holds TFRecord files"):
        main(["pack", str(folder), str(out)])


def test_pack_stops_at_or_skips_bad_images(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "good.jpg").write_bytes(jpeg_bytes(colour_of(1), 16))
    (folder / "bad.jpg").write_bytes(b"\xff\xd8\xff not really")
    with pytest.raises(BadImageError, match=r"bad\.jpg"):
        main(["pack", str(folder), str(tmp_path / "a")])
    assert main(["pack", str(folder), str(tmp_path / "b"), "--skip-bad"]) == 0
    out = capsys.readouterr().out
    assert "wrote 1 records in 1 shards" in out
    assert "skipped 1 undecodable images" in out
    assert "bad.jpg" in out


def test_demo_builds_kaggle_layout_once_and_deterministically(tmp_path: Path) -> None:
    args = ["demo", str(tmp_path / "a"), "--n-photo", "5", "--n-monet", "3", "--size", "48"]
    assert main(args) == 0
    build_demo_dataset(tmp_path / "b", n_photo=5, n_monet=3, size=48)
    for domain, count in (("photo", 5), ("monet", 3)):
        files_a = sorted((tmp_path / "a" / f"{domain}_tfrec").glob("*.tfrec"))
        files_b = sorted((tmp_path / "b" / f"{domain}_tfrec").glob("*.tfrec"))
        assert [f.read_bytes() for f in files_a] == [f.read_bytes() for f in files_b]
        records = list(iter_records(tmp_path / "a" / f"{domain}_tfrec"))
        assert len(records) == count
        images = [decode_image(r.data, r.name) for r in records]
        assert all(image.shape == (3, 48, 48) for image in images)
        assert len({image.numpy().tobytes() for image in images}) == count  # all distinct
    stamp = tmp_path / "b" / "photo_tfrec" / "photo00-5.tfrec"
    before = stamp.stat().st_mtime_ns
    build_demo_dataset(tmp_path / "b", n_photo=5, n_monet=3, size=48)
    assert stamp.stat().st_mtime_ns == before  # already built: nothing rewritten
    build_demo_dataset(tmp_path / "b", n_photo=4, n_monet=3, size=48)
    assert [f.name for f in (tmp_path / "b" / "photo_tfrec").glob("*.tfrec")] == ["photo00-4.tfrec"]
