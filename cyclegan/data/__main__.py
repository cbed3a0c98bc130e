"""The data command: ``python -m cyclegan.data`` (or ``cyclegan-data``).

- ``inspect ROOT``: per domain folder, the files, records, image sizes and CRC status (validating
  and caching the indexes as training would); exits 1 if any record is bad.
- ``pack FOLDER OUT``: write Kaggle-schema TFRecord shards (``image_name``, ``image``,
  ``target``) from a folder of images, so a folder dataset streams like the Kaggle one.
- ``demo OUT``: build the built-in demo dataset.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from cyclegan.data.datamodule import LAYOUTS
from cyclegan.data.index import DomainIndex, IndexCache, index_domain
from cyclegan.data.names import printable
from cyclegan.data.pack import pack_folder
from cyclegan.data.records import is_tfrecord_file

__all__ = ["main"]

_SHOWN_BAD = 10


def main(argv: Sequence[str] | None = None) -> int:
    """Run the data command.

    Args:
        argv: Arguments (default: ``sys.argv[1:]``).

    Returns:
        The exit status: 0 success, 1 bad records found, 2 nothing to read.
    """
    parser = argparse.ArgumentParser(prog="cyclegan-data", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    inspect = commands.add_parser("inspect", help="summarise and validate a dataset folder")
    inspect.add_argument("root", type=Path)
    inspect.add_argument("--index-dir", help="where to cache indexes (default: as training)")
    pack = commands.add_parser("pack", help="write TFRecord shards from an image folder")
    pack.add_argument("folder", type=Path)
    pack.add_argument("out", type=Path)
    pack.add_argument("--records-per-shard", type=int, default=300)
    pack.add_argument("--target", help="'target' feature (default: OUT's name before _tfrec)")
    pack.add_argument("--skip-bad", action="store_true", help="skip undecodable images")
    demo = commands.add_parser("demo", help="build the built-in demo dataset")
    demo.add_argument("out", type=Path)
    demo.add_argument("--n-photo", type=int, default=120)
    demo.add_argument("--n-monet", type=int, default=60)
    demo.add_argument("--size", type=int, default=256)
    demo.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    if args.command == "inspect":
        return inspect_root(args.root, args.index_dir)
    if args.command == "pack":
        target = args.target or args.out.name.removesuffix("_tfrec")
        written = pack_folder(
            args.folder, args.out, target, args.records_per_shard, skip_bad=args.skip_bad
        )
        print(f"wrote {written.records} records in {written.shards} shards to {args.out}")
        if written.skipped:
            print(f"skipped {len(written.skipped)} undecodable images:")
            for problem in written.skipped[:_SHOWN_BAD]:
                print(f"  {printable(problem)}")
        return 0
    from cyclegan.data.demo import build_demo_dataset

    build_demo_dataset(args.out, args.n_photo, args.n_monet, args.size, args.seed)
    print(f"demo dataset in {args.out}")
    return 0


def inspect_root(root: Path, index_dir: str | None = None) -> int:
    """Print the summary table of ``inspect`` and return its exit status."""
    if not root.exists():
        print(f"{printable(str(root))}: no such folder", file=sys.stderr)
        return 2
    folders = [root / name for layout in LAYOUTS for name in layout if (root / name).is_dir()]
    if not folders:
        folders = [root]
    cache = IndexCache(index_dir)
    indexes = [index_domain(folder.name, folder, cache) for folder in folders]
    rows = [("folder", "files", "records", "bad", "image sizes", "CRC-32C")]
    rows += [_row(root, index) for index in indexes]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    print(printable(str(root)))
    for row in rows:
        cells = [
            cell.rjust(width) if 0 < i < 4 else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        print("  " + "  ".join(cells).rstrip())
    first_file = next((Path(i.files[0]) for i in indexes if i.files), None)
    if first_file is not None:
        where = cache.location(first_file, first_file.name).parent
        print(f"indexes cached in {printable(str(where))}")
    bad = [b for index in indexes for b in index.bad]
    for problem in bad[:_SHOWN_BAD]:
        print(f"bad: {printable(str(problem))}")
    if len(bad) > _SHOWN_BAD:
        print(f"... and {len(bad) - _SHOWN_BAD} more bad records")
    if not any(index.total_records for index in indexes):
        print(f"{printable(str(root))}: no TFRecord files or images found", file=sys.stderr)
        return 2
    return 1 if bad else 0


def _row(root: Path, index: DomainIndex) -> tuple[str, str, str, str, str, str]:
    sizes = Counter(zip(index.widths.tolist(), index.heights.tolist(), strict=True))
    shown = ", ".join(f"{w}x{h} ({n})" for (w, h), n in sizes.most_common(3))
    if len(sizes) > 3:
        shown += f", +{len(sizes) - 3} other sizes"
    tfrecords = int((index.offsets >= 0).sum()) + sum(is_tfrecord_file(b.path) for b in index.bad)
    crc_bad = sum("CRC" in b.reason for b in index.bad)
    # A truncated record has no checksum to verify; other bad records passed theirs.
    truncated = sum("truncated" in b.reason for b in index.bad if is_tfrecord_file(b.path))
    if tfrecords == 0:
        crc = "n/a (image files)"
    elif crc_bad:
        crc = f"{crc_bad} mismatch(es)"
    else:
        crc = f"ok ({tfrecords - truncated} records verified)"
        crc += f", {truncated} truncated" if truncated else ""
    folder = index.folder.relative_to(root).as_posix() + "/" if index.folder != root else "."
    folder = printable(folder)
    return (
        folder,
        str(len(index.files)),
        str(len(index)),
        str(len(index.bad)),
        shown or "-",
        crc,
    )


if __name__ == "__main__":
    sys.exit(main())
