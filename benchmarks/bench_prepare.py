"""Peak memory of preparing a 40-megapixel photo for upload (issue 12, point 2).

Each case runs in a child of its own (``_common.measure``: ``wait4``'s ``ru_maxrss``) and
is set beside a baseline in the same process tree: Pillow only decoding the same file.
The aim is a peak near the decoded image's size, not several copies of it.

    python benchmarks/bench_prepare.py [--runs N] [--no-heic]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from _common import base_env, dmxedit_command, fake_server, machine, measure, workdir

WIDTH, HEIGHT = 7744, 5164  # 40 megapixels, a 3:2 camera photo

DECODE = """
import sys
from PIL import Image
import pillow_heif
pillow_heif.register_heif_opener()
with Image.open(sys.argv[1]) as im:
    im.load()
"""

IMPORT_ONLY = """
from PIL import Image
import pillow_heif
pillow_heif.register_heif_opener()
import dmxedit.media.prepare, dmxedit.media.images, dmxedit.core.temporaries
"""

PREPARE = """
import sys
from dmxedit.media.images import load_image
from dmxedit.media.prepare import discard, prepare_image
from dmxedit.core.temporaries import Temporaries
max_side = int(sys.argv[2]) if len(sys.argv) > 2 else None
image = load_image(sys.argv[1], max_side=max_side)
assert image.plan is not None, "nothing to prepare"
temporaries = Temporaries()
sent = prepare_image(image, temporaries)
print(sent.content_type, sent.width, sent.height, sent.size, file=sys.stderr)
discard(str(sent.path), temporaries)
"""


def photo(folder: Path, heic: bool) -> dict[str, Path]:
    """A 40 MP photo-like picture (smooth gradients and fine grain, so it compresses like
    one): a JPEG with EXIF orientation 6 and, unless ``heic`` is off, a HEIC."""
    import os

    from PIL import Image

    # (Finer per-pixel noise makes a HEIC that libde265 1.1.3 fails to decode.)
    grain = Image.frombytes("L", (WIDTH // 16, HEIGHT // 16), os.urandom(WIDTH * HEIGHT // 256))
    grain = grain.resize((WIDTH, HEIGHT), Image.Resampling.BICUBIC)
    base = Image.linear_gradient("L").resize((WIDTH, HEIGHT))
    im = Image.merge("RGB", (base, grain, base.transpose(Image.Transpose.ROTATE_180)))
    del base, grain
    out = {}
    exif = Image.Exif()
    exif[0x0112] = 6
    out["jpeg"] = folder / "photo.jpg"
    im.save(out["jpeg"], "JPEG", quality=92, exif=exif.tobytes())
    if heic:
        import pillow_heif

        pillow_heif.register_heif_opener()
        out["heic"] = folder / "photo.heic"
        im.save(out["heic"], "HEIF", quality=85)
    return out


def mib(path: Path) -> str:
    return f"{path.stat().st_size / 1024 / 1024:.1f} MiB"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-heic", action="store_true", help="skip the HEIC case")
    args = parser.parse_args(argv)
    py = sys.executable
    decoded_mib = WIDTH * HEIGHT * 4 / 1024 / 1024  # Pillow keeps RGB in 4 bytes a pixel
    print(f"# {machine()}")
    print(f"# {WIDTH}x{HEIGHT} = {WIDTH * HEIGHT / 1e6:.1f} MP; decoded RGB {decoded_mib:.0f} MiB")
    with workdir() as work:
        files = photo(work, heic=not args.no_heic)
        floor = max(measure([py, "-c", IMPORT_ONLY]).peak_mib for _ in range(args.runs))
        print(f"# interpreter + Pillow + dmxedit.media.prepare imported: {floor:.1f} MiB")
        cases = [
            ("JPEG, EXIF orientation 6 -> rotated JPEG", files["jpeg"], []),
            ("JPEG, orientation 6, --max-side 2048", files["jpeg"], ["2048"]),
        ]
        if "heic" in files:
            cases += [
                ("HEIC -> PNG", files["heic"], []),
                ("HEIC, --max-side 2048", files["heic"], ["2048"]),
            ]
        print()
        print("| case | input | decode only, MiB | prepare, MiB | prepare / decode | above floor |")
        print("|---|---|---|---|---|---|")
        for name, path, extra in cases:
            decode = max(measure([py, "-c", DECODE, str(path)]).peak_mib for _ in range(args.runs))
            prep = max(
                measure([py, "-c", PREPARE, str(path), *extra]).peak_mib for _ in range(args.runs)
            )
            above = (prep - floor) / (decode - floor)
            print(
                f"| {name} | {mib(path)} | {decode:.0f} | {prep:.0f} | {prep / decode:.2f}x "
                f"| {above:.2f}x |"
            )
        with fake_server() as base_url:
            env = base_env(base_url, work)
            (work / "home").mkdir(exist_ok=True)
            cmd = [*dmxedit_command(), "edit", str(files["jpeg"]), "-p", "x", "-q"]
            cmd += ["-o", str(work / "out")]
            whole = measure(cmd, env, work)
            print()
            print(
                f"`dmxedit edit photo.jpg` (orientation 6) against the fake server, whole "
                f"command: {whole.wall_s:.1f} s, peak {whole.peak_mib:.0f} MiB (exit {whole.code})"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
