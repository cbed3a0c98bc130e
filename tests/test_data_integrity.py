"""Corrupt TFRecords: each fault is reported by file, record and byte offset, or counted and
skipped under ``on_bad_record=skip``; validation is cached and re-done when a file changes."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from data_helpers import image_id, jpeg_bytes, write_tfrecord_dataset

from cyclegan.data import index as index_module
from cyclegan.data.datamodule import CycleGANDataModule
from cyclegan.data.records import BadRecordError, encode_example, frame_record, scan_tfrecord

SHARED = Path(__file__).resolve().parents[1] / "../shared/data/gan-getting-started"
N_MONET = 6


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return write_tfrecord_dataset(tmp_path / "data", n_monet=N_MONET, n_photo=4, size=16, shards=1)


def monet_file(root: Path) -> Path:
    return next((root / "monet_tfrec").glob("*.tfrec"))


def offsets(path: Path) -> list[int]:
    return [offset for offset, _ in scan_tfrecord(path)]


def replace_record(path: Path, record: int, features: dict[str, bytes]) -> None:
    data = path.read_bytes()
    starts = [*offsets(path), len(data)]
    new = frame_record(encode_example(features))
    path.write_bytes(data[: starts[record]] + new + data[starts[record + 1] :])


def flip(path: Path, position: int) -> None:
    data = bytearray(path.read_bytes())
    data[position] ^= 0x01
    path.write_bytes(bytes(data))


def truncate_last(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-10])


def flip_payload(path: Path) -> None:
    start, end = offsets(path)[2:4]
    flip(path, (start + 12 + end) // 2)


def flip_length(path: Path) -> None:
    flip(path, offsets(path)[2])


def non_jpeg(path: Path) -> None:
    replace_record(path, 2, {"image_name": b"monet0002", "image": b"<html>not found</html>"})


def missing_image(path: Path) -> None:
    replace_record(path, 2, {"image_name": b"monet0002", "target": b"monet"})


def empty_file(path: Path) -> None:
    (path.parent / "monet99-0.tfrec").write_bytes(b"")


CASES: dict[str, tuple[Callable[[Path], None], int, str, str | None, list[int]]] = {
    # name: (corrupt, bad record, reason, image_name in message, ids still readable)
    "truncated-last-record": (truncate_last, 5, "file truncated", None, [0, 1, 2, 3, 4]),
    "flipped-payload-byte": (
        flip_payload,
        2,
        "payload CRC mismatch",
        "monet0002 (unverified)",
        [0, 1, 3, 4, 5],
    ),
    "flipped-length-byte": (flip_length, 2, "length CRC mismatch", None, [0, 1]),
    "non-jpeg-image": (non_jpeg, 2, "not a decodable image", "monet0002", [0, 1, 3, 4, 5]),
    "missing-image-feature": (
        missing_image,
        2,
        "no 'image' bytes feature",
        "monet0002",
        [0, 1, 3, 4, 5],
    ),
    "empty-file": (empty_file, 0, "empty file", None, [0, 1, 2, 3, 4, 5]),
}


def make(root: Path, **options: object) -> CycleGANDataModule:
    defaults: dict[str, object] = {"image_size": 16, "num_workers": 0, "epoch_length": "max"}
    return CycleGANDataModule(str(root), **(defaults | options))  # type: ignore[arg-type]


@pytest.mark.parametrize("case", list(CASES))
def test_bad_record_raises_naming_file_record_offset_and_name(root: Path, case: str) -> None:
    corrupt, record, reason, image_name, _ = CASES[case]
    corrupt(monet_file(root))
    with pytest.raises(BadRecordError, match=reason) as caught:
        make(root).setup()
    error = caught.value
    message = str(error)
    assert error.record == record
    assert f"record {record} at byte {error.offset}" in message
    assert error.path in message
    assert Path(error.path).parent == root / "monet_tfrec"
    if image_name is not None:
        assert f"(image_name {image_name!r})" in message
    assert "on_bad_record=skip" in message


@pytest.mark.parametrize("case", list(CASES))
def test_skip_policy_counts_lists_and_leaves_bad_records_out(
    root: Path, case: str, caplog: pytest.LogCaptureFixture
) -> None:
    corrupt, record, reason, _, readable = CASES[case]
    corrupt(monet_file(root))
    dm = make(root, on_bad_record="skip")
    with caplog.at_level(logging.WARNING, logger="cyclegan.data.datamodule"):
        dm.setup()
    assert len(dm.skipped["monet"]) == 1
    assert dm.skipped["monet"][0].record == record
    assert dm.skipped["photo"] == []
    assert "monet: skipped 1 bad record(s)" in caplog.text
    assert reason in caplog.text
    ids = [image_id(x) for batch in dm.eval_dataloader("monet") for x in batch]
    assert ids == readable
    assert dm.num_records("monet") == len(readable)
    assert sum(1 for _ in dm.train_dataloader()) == dm.steps_per_epoch == max(4, len(readable))


def test_validation_is_cached_and_redone_when_the_file_changes(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make(root).setup()
    path = monet_file(root)
    assert path.with_name(path.name + ".index.json").is_file()

    def must_not_run(path: Path) -> None:
        raise AssertionError(f"{path} re-validated although unchanged")

    with monkeypatch.context() as patch:
        patch.setattr(index_module, "_validate_tfrecord", must_not_run)
        make(root).setup()
    truncate_last(path)
    with pytest.raises(BadRecordError, match="file truncated"):
        make(root).setup()


def test_index_dir_and_read_only_data(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make(root, index_dir=str(tmp_path / "idx")).setup()
    assert len(list((tmp_path / "idx").glob("*.index.json"))) == 2
    assert not list(root.rglob("*.index.json"))

    monkeypatch.setenv("CYCLEGAN_CACHE", str(tmp_path / "cache"))
    for folder in (root / "monet_tfrec", root / "photo_tfrec"):
        folder.chmod(0o555)
    try:
        make(root).setup()
    finally:
        for folder in (root / "monet_tfrec", root / "photo_tfrec"):
            folder.chmod(0o755)
    assert not list(root.rglob("*.index.json"))
    assert len(list((tmp_path / "cache" / "index").glob("*.index.json"))) == 2


def test_a_file_changed_after_indexing_is_caught_while_reading(root: Path) -> None:
    dm = make(root)
    dm.setup()
    path = monet_file(root)
    stat = path.stat()
    flip_payload(path)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # looks unchanged to the cache
    with pytest.raises(BadRecordError, match=r"payload CRC mismatch \(file changed"):
        for _ in dm.eval_dataloader("monet"):
            pass


def test_unknown_feature_layout_is_named(root: Path) -> None:
    replace_record(monet_file(root), 1, {"picture": jpeg_bytes((1, 2, 3), 8)})
    with pytest.raises(BadRecordError, match=r"bytes features present: picture"):
        make(root).setup()


@pytest.mark.realdata
def test_kaggle_monet_tfrecords_validate_clean(tmp_path: Path) -> None:
    folder = SHARED / "monet_tfrec"
    if not folder.is_dir():
        pytest.skip(f"Kaggle data not found at {SHARED}")
    index = index_module.index_domain("monet", folder, index_module.IndexCache(tmp_path))
    assert len(index.files) == 5
    assert len(index) == 300
    assert index.bad == []
    assert set(index.heights.tolist()) == {256}
    assert set(index.widths.tolist()) == {256}
