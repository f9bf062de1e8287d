"""End to end: the installed `dmxedit` against the project's fake server (issues 2 and 6).

Each test runs the real command as a subprocess and checks the exact request the server
parsed and the files written. The key must never show up in any output.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fakeserver import (
    EDITS,
    GENERATIONS,
    JPEG_BYTES,
    PNG_BYTES,
    WEBP_BYTES,
    FakeDMX,
    Reply,
    make_png,
)
from helpers import (
    KEY,
    Cli,
    expect,
    partial_files,
)

pytestmark = pytest.mark.e2e

ok = fails = expect
leftovers = partial_files
STAMP = r"\d{8}_\d{6}"


# -- the request on the wire ------------------------------------------------------------


def test_edit_sends_the_exact_multipart_request(cli: Cli, server: FakeDMX, tmp_path: Path) -> None:
    first = tmp_path / "first.png"
    first.write_bytes(make_png(40, 30, filler=1))
    second = tmp_path / "second.jpg"  # really a WebP: the type comes from the bytes
    second.write_bytes(WEBP_BYTES)
    third = tmp_path / "third.webp"  # really a JPEG
    third.write_bytes(JPEG_BYTES)
    run = ok(
        cli(
            "edit",
            str(first),
            str(second),
            str(third),
            "-p",
            "  make it snow  ",
            "--ratio",
            "5:4",
            "--size",
            "4k",
            "--param",
            "quality=high",
        )
    )
    (post,) = server.posts(EDITS)
    assert post.headers["authorization"] == f"Bearer {KEY}"
    assert post.headers["content-type"].startswith("multipart/form-data; boundary=")
    assert int(post.headers["content-length"]) == post.body_size
    assert "transfer-encoding" not in post.headers
    assert post.field_list() == [
        ("prompt", "make it snow"),
        ("n", "1"),
        ("model", "nano-banana-2"),
        ("aspect_ratio", "5:4"),
        ("size", "4K"),
        ("response_format", "url"),
        ("quality", "high"),
    ]
    assert [(p.filename, p.content_type, p.data) for p in post.images] == [
        ("first.png", "image/png", first.read_bytes()),
        ("second.jpg", "image/webp", WEBP_BYTES),
        ("third.webp", "image/jpeg", JPEG_BYTES),
    ]
    # The result URL was downloaded without the key, into the default name.
    (get,) = server.gets()
    assert "authorization" not in get.headers
    (line,) = run.stdout.splitlines()
    assert re.fullmatch(rf"output/edited_{STAMP}_1\.png", line)
    assert (tmp_path / line).read_bytes() == PNG_BYTES
    assert leftovers(tmp_path) == []


def test_edit_without_ratio_or_size_leaves_them_out(cli: Cli, server: FakeDMX, png: Path) -> None:
    ok(cli("edit", str(png), "-p", "x"))
    fields = server.posts()[0].fields
    assert "aspect_ratio" not in fields and "size" not in fields
    assert fields["n"] == "1" and fields["response_format"] == "url"


def test_options_model_base_url_and_other_models_ratios(
    cli: Cli, server: FakeDMX, png: Path
) -> None:
    other = FakeDMX().start()
    try:
        ok(
            cli(
                "edit",
                str(png),
                "-p",
                "x",
                "-m",
                "other-model",
                "--ratio",
                "7:3",
                "--base-url",
                other.base_url,
            )
        )
    finally:
        other.stop()
    assert server.requests == []
    fields = other.posts()[0].fields
    assert fields["model"] == "other-model" and fields["aspect_ratio"] == "7:3"


def test_ratio_auto_takes_the_first_images_shape(cli: Cli, server: FakeDMX, tmp_path: Path) -> None:
    wide = tmp_path / "wide.png"
    wide.write_bytes(make_png(400, 300))
    tall = tmp_path / "tall.png"
    tall.write_bytes(make_png(90, 160))
    ok(cli("edit", str(wide), str(tall), "-p", "x", "--ratio", "auto"))
    ok(cli("edit", str(tall), str(wide), "-p", "x", "-r", "auto"))
    assert [p.fields["aspect_ratio"] for p in server.posts()] == ["4:3", "9:16"]


def test_prompt_from_stdin_and_from_a_file(cli: Cli, server: FakeDMX, png: Path) -> None:
    ok(cli("edit", str(png), "-p", "-", input=b"snow on the roof\n"))
    prompt_file = png.parent / "prompt.txt"
    prompt_file.write_text("a long prompt\nover two lines\n", encoding="utf-8")
    ok(cli("edit", str(png), "--prompt-file", str(prompt_file)))
    assert [p.fields["prompt"] for p in server.posts()] == [
        "snow on the roof",
        "a long prompt\nover two lines",
    ]


def test_image_from_stdin(cli: Cli, server: FakeDMX) -> None:
    data = make_png(20, 20, filler=7)
    run = ok(cli("edit", "-", "-p", "x", input=data))
    (image,) = server.posts()[0].images
    assert image.data == data and image.content_type == "image/png"
    assert run.stdout.startswith("output/edited_")


# -- results ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "ext"), [(PNG_BYTES, "png"), (JPEG_BYTES, "jpg"), (WEBP_BYTES, "webp")]
)
def test_extension_comes_from_the_result_bytes(
    cli: Cli, server: FakeDMX, png: Path, tmp_path: Path, data: bytes, ext: str
) -> None:
    # The server names the file .png whatever it holds; dmxedit looks at the bytes.
    server.script(EDITS, Reply(json=server.url_result(data, name="result.png")))
    run = ok(cli("edit", str(png), "-p", "x"))
    path = tmp_path / run.stdout.strip()
    assert path.suffix == f".{ext}" and path.read_bytes() == data


def test_no_name_is_taken_from_the_server(
    cli: Cli, server: FakeDMX, png: Path, tmp_path: Path
) -> None:
    url = server.add_file("evil.png", PNG_BYTES) + "?name=../../etc/passwd"
    server.script(EDITS, Reply(json={"data": [{"url": url}]}))
    run = ok(cli("edit", str(png), "-p", "x"))
    assert re.fullmatch(rf"output/edited_{STAMP}_1\.png", run.stdout.strip())
    assert sorted(p.name for p in (tmp_path / "output").iterdir()) == [
        Path(run.stdout.strip()).name
    ]


def test_existing_files_are_never_overwritten(
    cli: Cli, server: FakeDMX, png: Path, tmp_path: Path
) -> None:
    out = tmp_path / "output"
    out.mkdir()
    # Occupy every name the next few seconds could produce.
    import datetime

    now = datetime.datetime.now()
    taken = []
    for delta in range(-1, 4):
        stamp = (now + datetime.timedelta(seconds=delta)).strftime("%Y%m%d_%H%M%S")
        path = out / f"edited_{stamp}_1.png"
        path.write_bytes(b"precious")
        taken.append(path)
    runs = [ok(cli("edit", str(png), "-p", "x")) for _ in range(2)]
    saved = [tmp_path / r.stdout.strip() for r in runs]
    assert len(set(saved)) == 2
    for path in saved:
        assert path.read_bytes() == PNG_BYTES
        assert path not in taken
    assert all(p.read_bytes() == b"precious" for p in taken)


def test_b64_json_results_are_decoded(cli: Cli, server: FakeDMX, png: Path, tmp_path: Path) -> None:
    data = make_png(30, 30, filler=3)
    server.script(EDITS, Reply(json=server.b64_result(data)))
    run = ok(cli("edit", str(png), "-p", "x", "--format", "b64_json", "-o", "b64"))
    assert server.posts()[0].fields["response_format"] == "b64_json"
    assert server.gets() == []
    path = tmp_path / run.stdout.strip()
    assert path.parent == tmp_path / "b64" and path.read_bytes() == data


def test_output_folder_is_created(cli: Cli, server: FakeDMX, png: Path, tmp_path: Path) -> None:
    run = ok(cli("edit", str(png), "-p", "x", "-o", "deep/er/out"))
    assert (tmp_path / run.stdout.strip()).parent == tmp_path / "deep" / "er" / "out"


def test_output_dash_writes_only_the_image_bytes(
    cli: Cli, server: FakeDMX, png: Path, tmp_path: Path
) -> None:
    data = make_png(12, 12, filler=9)
    server.script(EDITS, Reply(json=server.url_result(data)))
    run = ok(cli("edit", str(png), "-p", "x", "-o", "-"))
    assert run.stdout_bytes == data
    assert not (tmp_path / "output").exists()


def test_output_dash_with_json_is_refused(cli: Cli, server: FakeDMX, png: Path) -> None:
    fails(cli("edit", str(png), "-p", "x", "-o", "-", "--json"), 2, "standard output")
    assert server.requests == []


def test_json_output_describes_the_result(
    cli: Cli, server: FakeDMX, png: Path, tmp_path: Path
) -> None:
    body = server.url_result(PNG_BYTES)
    body["data"][0]["revised_prompt"] = "a snowy scene"
    body["usage"] = {"total_tokens": 2000}
    server.script(EDITS, Reply(json=body))
    run = ok(cli("edit", str(png), "-p", "snow", "--ratio", "5:4", "--size", "4K", "--json"))
    data = json.loads(run.stdout)
    assert data["files"] == [data["files"][0]] and (tmp_path / data["files"][0]).is_file()
    assert data["urls"] == [body["data"][0]["url"]]
    assert data["model"] == "nano-banana-2" and data["prompt"] == "snow"
    assert data["aspect_ratio"] == "5:4" and data["size"] == "4K"
    assert data["response_format"] == "url"
    assert isinstance(data["elapsed_s"], (int, float))
    assert data["revised_prompt"] == "a snowy scene"
    assert data["usage"] == {"total_tokens": 2000}


def test_json_output_on_failure_has_the_error_and_the_exit_code(
    cli: Cli, server: FakeDMX, png: Path
) -> None:
    server.script(
        EDITS,
        Reply(
            status=400, json={"error": {"message": "bad prompt"}}, headers={"x-request-id": "r-9"}
        ),
    )
    run = fails(cli("edit", str(png), "-p", "x", "--json"), 4)
    error = json.loads(run.stdout)["error"]
    assert error["status"] == 400 and error["request_id"] == "r-9"
    assert "bad prompt" in error["message"] and error["exit_code"] == 4


def test_dry_run_sends_nothing_and_masks_the_key(cli: Cli, server: FakeDMX, png: Path) -> None:
    run = ok(cli("edit", str(png), "-p", "snow", "--ratio", "5:4", "--size", "2k", "--dry-run"))
    assert server.requests == []
    assert f"POST {server.base_url}/images/edits" in run.stdout
    assert "sk-…abcd" in run.stdout
    assert "size = '2K'" in run.stdout
    assert "Authorization: Bearer $DMXAPI_API_KEY" in run.stdout
    assert "--form-string prompt=snow" in run.stdout
    assert f"image=@{png}" in run.stdout or "image=@photo.png" in run.stdout


def test_dry_run_curl_command_really_sends_the_same_request(
    cli: Cli, server: FakeDMX, png: Path, tmp_path: Path
) -> None:
    if subprocess.run(["which", "curl"], capture_output=True).returncode != 0:
        pytest.skip("curl is not installed")
    run = ok(cli("edit", str(png), "-p", "it's snowing", "--size", "4K", "--dry-run"))
    command = run.stdout.split("# the same request with curl")[1].split("\n", 1)[1]
    env = dict(os.environ, DMXAPI_API_KEY=KEY)
    proc = subprocess.run(
        ["bash", "-c", command], capture_output=True, cwd=tmp_path, env=env, timeout=30
    )
    assert proc.returncode == 0, proc.stderr
    (post,) = server.posts()
    assert post.headers["authorization"] == f"Bearer {KEY}"
    assert post.fields["prompt"] == "it's snowing" and post.fields["size"] == "4K"
    assert post.images[0].data == png.read_bytes()
    assert post.images[0].content_type == "image/png"


def test_save_metadata_writes_a_sidecar(
    cli: Cli, server: FakeDMX, png: Path, tmp_path: Path
) -> None:
    run = ok(cli("edit", str(png), "-p", "snow", "--ratio", "4:3", "--save-metadata"))
    image = tmp_path / run.stdout.strip()
    meta = json.loads(Path(f"{image}.json").read_text(encoding="utf-8"))
    text = json.dumps(meta)
    assert meta["prompt"] == "snow" and meta["model"] == "nano-banana-2"
    assert hashlib.sha256(png.read_bytes()).hexdigest() in text
    assert png.name in text
    assert server.gets()[0].path in text  # the result URL
    assert "timings" in text
    assert KEY not in text


def test_quiet_and_verbose(cli: Cli, server: FakeDMX, png: Path) -> None:
    quiet = ok(cli("edit", str(png), "-p", "x", "-q"))
    assert quiet.stderr == ""
    normal = ok(cli("edit", str(png), "-p", "x"))
    verbose = ok(cli("edit", str(png), "-p", "x", "-v"))
    assert len(verbose.stderr.splitlines()) > len(normal.stderr.splitlines())
    assert "POST" in verbose.stderr


def test_retries_option(cli: Cli, server: FakeDMX, png: Path) -> None:
    server.script(EDITS, Reply(status=503), Reply(status=503))
    fails(cli("edit", str(png), "-p", "x", "--retries", "0"), 5, "503")
    assert len(server.posts()) == 1
    ok(cli("edit", str(png), "-p", "x", "--retries", "1"))
    assert len(server.posts()) == 3


def test_timeout_option(cli: Cli, server: FakeDMX, png: Path) -> None:
    server.script(EDITS, Reply(delay=5))
    run = fails(cli("edit", str(png), "-p", "x", "--timeout", "0.3"), 5)
    assert len(server.posts()) == 1
    assert "did not answer within 0.3 s" in run.stderr


def test_more_than_14_images_warns_but_sends(cli: Cli, server: FakeDMX, tmp_path: Path) -> None:
    paths = []
    for i in range(15):
        path = tmp_path / f"i{i}.png"
        path.write_bytes(make_png(8, 8, filler=i))
        paths.append(str(path))
    run = ok(cli("edit", *paths, "-p", "x"))
    assert "warning: 15 images" in run.stderr and "says 14" in run.stderr
    assert len(server.posts()[0].images) == 15


# -- validation: exit 2, nothing sent ------------------------------------------------------


def _bad_inputs(tmp: Path) -> list[tuple[list[str], str]]:
    gif = tmp / "anim.png"
    gif.write_bytes(b"GIF89a" + b"\x00" * 20)
    text = tmp / "notes.txt"
    text.write_text("hello")
    good = tmp / "good.png"
    good.write_bytes(make_png(4, 4))
    prompt_file = tmp / "p.txt"
    prompt_file.write_text("x")
    g = str(good)
    return [
        (["edit", str(tmp / "missing.png"), "-p", "x"], "missing.png"),
        (["edit", str(tmp), "-p", "x"], "folder"),
        (["edit", str(gif), "-p", "x"], "GIF"),
        (["edit", str(text), "-p", "x"], "notes.txt"),
        (["edit", *[g] * 17, "-p", "x"], "16"),
        (["edit", g, "-p", ""], "empty"),
        (["edit", g, "-p", "   \n "], "empty"),
        (["edit", g, "-p", "x" * 32001], "32000"),
        (["edit", g, "-p", "x", "--ratio", "7:3"], "7:3"),
        (["edit", g, "-p", "x", "--ratio", "wide"], "wide"),
        (["edit", g, "-p", "x", "--size", "3K"], "3K"),
        (["edit", g, "-p", "x", "--format", "png"], "png"),
        (["edit", g, "-p", "x", "--param", "noequals"], "noequals"),
        (["edit", g, "-p", "x", "--base-url", "ftp://example.com/v1"], "ftp://"),
        (["edit", g, "-p", "x", "--retries", "-1"], "-1"),
        (["edit", g, "-p", "x", "--timeout", "0"], "0"),
        (["edit", g, "-p", "x", "--prompt-file", str(prompt_file)], "not both"),
        (["edit", g, "--prompt-file", str(tmp / "nope.txt")], "nope.txt"),
        (["edit", g], "prompt"),
        (["edit", "-", "-", "-p", "x"], "-"),
        (["edit", g, "-p", "-", "--prompt-file", "-"], "not both"),
        (["generate", "-p", "x", "--ratio", "auto"], "auto"),
        (["generate", "-p", "x", "--size", "8K"], "8K"),
        (["generate", "-p", " "], "empty"),
        (["edit", g, "-p", "x", "--unknown-option"], "unknown-option"),
    ]


def test_every_bad_input_is_exit_2_with_a_message_and_nothing_sent(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    problems = []
    for args, phrase in _bad_inputs(tmp_path):
        run = cli(*args)
        if run.code != 2 or phrase not in run.stderr or "Traceback" in run.stderr:
            problems.append(f"{args[:4]}: {run.output}")
    assert problems == []
    assert server.requests == []


def test_missing_key_says_how_to_set_it(
    cli: Cli, server: FakeDMX, png: Path, tmp_path: Path
) -> None:
    run = fails(cli("edit", str(png), "-p", "x", key=None), 3, "DMXAPI_API_KEY")
    assert "config set api-key" in run.stderr
    assert server.requests == []
    assert not (tmp_path / "output").exists()


def test_unparsable_config_is_named_and_left_alone(cli: Cli, server: FakeDMX, png: Path) -> None:
    path = Path(os.environ["DMXEDIT_CONFIG"])
    path.parent.mkdir(parents=True)
    path.write_text("model = [\n")
    fails(cli("edit", str(png), "-p", "x"), 3, str(path))
    fails(cli("config", "set", "model", "m"), 3, str(path))
    assert path.read_text() == "model = [\n"
    assert server.requests == []


# -- API errors through the CLI -------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "code", "phrase"),
    [
        (Reply(status=401, json={"error": {"message": "invalid key"}}), 3, "base URL"),
        (Reply(status=403, json={"error": {"message": "forbidden"}}), 3, "forbidden"),
        (Reply(status=400, json={"error": {"message": "bad image"}}), 4, "bad image"),
        (Reply(status=422, body=b"unprocessable thing", content_type="text/plain"), 4, "422"),
        (Reply(status=500, json={"error": {"message": "boom"}}), 5, "boom"),
        (Reply(json={"data": []}), 4, "no image"),
        (Reply(json={"error": {"message": "quota exceeded"}}), 4, "quota exceeded"),
    ],
)
def test_api_errors_map_to_exit_codes(
    cli: Cli, server: FakeDMX, png: Path, tmp_path: Path, reply: Reply, code: int, phrase: str
) -> None:
    server.script(EDITS, reply)
    run = fails(cli("edit", str(png), "-p", "x"), code)
    assert phrase.lower() in run.stderr.lower(), run.output
    assert run.stdout == ""
    assert len(server.posts()) == 1
    assert leftovers(tmp_path) == []


# -- generate (issue 6) ----------------------------------------------------------------------


def test_generate_posts_json_and_saves_generated_names(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    run = ok(
        cli(
            "generate",
            "-p",
            "a red fox",
            "--ratio",
            "16:9",
            "--size",
            "4k",
            "--param",
            "seed=5",
            "--param",
            "hd=true",
            "--param",
            "style=vivid",
        )
    )
    (post,) = server.posts(GENERATIONS)
    assert post.headers["authorization"] == f"Bearer {KEY}"
    assert post.headers["content-type"] == "application/json"
    assert post.json == {
        "model": "nano-banana-2",
        "prompt": "a red fox",
        "n": 1,
        "aspect_ratio": "16:9",
        "size": "4K",
        "response_format": "url",
        "seed": 5,
        "hd": True,
        "style": "vivid",
    }
    assert server.posts(EDITS) == []
    line = run.stdout.strip()
    assert re.fullmatch(rf"output/generated_{STAMP}_1\.png", line)
    assert (tmp_path / line).read_bytes() == PNG_BYTES


def test_generate_b64_json_metadata_and_json(cli: Cli, server: FakeDMX, tmp_path: Path) -> None:
    data = make_png(9, 9, filler=5)
    server.script(GENERATIONS, Reply(json=server.b64_result(data)))
    run = ok(cli("generate", "-p", "x", "--format", "b64_json", "--json", "--save-metadata"))
    result = json.loads(run.stdout)
    (path,) = result["files"]
    assert (tmp_path / path).read_bytes() == data
    assert Path(f"{tmp_path / path}.json").is_file()
    assert result["response_format"] == "b64_json" and result["urls"] == []


def test_generate_to_stdout(cli: Cli, server: FakeDMX) -> None:
    run = ok(cli("generate", "-p", "x", "-o", "-"))
    assert run.stdout_bytes == PNG_BYTES


def test_generate_dry_run_curl_sends_json(cli: Cli, server: FakeDMX, tmp_path: Path) -> None:
    run = ok(cli("generate", "-p", "it's a cat", "--ratio", "1:1", "--dry-run"))
    assert server.requests == []
    assert "-H 'Content-Type: application/json'" in run.stdout
    assert "$DMXAPI_API_KEY" in run.stdout and KEY not in run.stdout
    command = run.stdout.split("# the same request with curl")[1].split("\n", 1)[1]
    env = dict(os.environ, DMXAPI_API_KEY=KEY)
    proc = subprocess.run(["bash", "-c", command], capture_output=True, env=env, timeout=30)
    if proc.returncode == 127:
        pytest.skip("curl is not installed")
    assert proc.returncode == 0, proc.stderr
    assert server.posts(GENERATIONS)[0].json["prompt"] == "it's a cat"


@pytest.mark.parametrize(
    ("reply", "code"),
    [
        (Reply(status=401), 3),
        (Reply(status=400, json={"error": {"message": "nope"}}), 4),
        (Reply(status=502), 5),
        (Reply(json={"data": []}), 4),
    ],
)
def test_generate_errors_share_the_exit_codes(
    cli: Cli, server: FakeDMX, reply: Reply, code: int
) -> None:
    server.script(GENERATIONS, reply)
    fails(cli("generate", "-p", "x"), code)
    assert len(server.posts()) == 1


def test_generate_help_has_no_image_options(cli: Cli) -> None:
    run = ok(cli("generate", "--help"))
    assert "--prompt" in run.stdout and "--ratio" in run.stdout
    assert "IMAGE" not in run.stdout and "--each" not in run.stdout


# -- ratios -----------------------------------------------------------------------------------

TABLE = {
    "1:1": ("1024x1024", "2048x2048", "4096x4096"),
    "2:3": ("848x1264", "1696x2528", "3392x5056"),
    "3:2": ("1264x848", "2528x1696", "5056x3392"),
    "3:4": ("896x1200", "1792x2400", "3584x4800"),
    "4:3": ("1200x896", "2400x1792", "4800x3584"),
    "4:5": ("928x1152", "1856x2304", "3712x4608"),
    "5:4": ("1152x928", "2304x1856", "4608x3712"),
    "9:16": ("768x1376", "1536x2752", "3072x5504"),
    "16:9": ("1376x768", "2752x1536", "5504x3072"),
    "21:9": ("1584x672", "3168x1344", "6336x2688"),
}


def test_ratios_table_is_the_specs(cli: Cli) -> None:
    run = ok(cli("ratios"))
    lines = run.stdout.splitlines()
    assert "1210" in lines[0] and "2000" in lines[0]
    for ratio, sizes in TABLE.items():
        (row,) = [line for line in lines if line.split()[0] == ratio]
        assert row.split()[1:4] == list(sizes)


def test_ratios_json_matches_the_table(cli: Cli) -> None:
    data = json.loads(ok(cli("ratios", "--json")).stdout)
    text = json.dumps(data)
    rows = {row["ratio"]: row for row in data["ratios"]}
    assert list(rows) == list(TABLE)
    for ratio, sizes in TABLE.items():
        for size, pixels in zip(("1K", "2K", "4K"), sizes, strict=True):
            got = rows[ratio]["sizes"][size]
            assert f"{got['width']}x{got['height']}" == pixels
    assert "1210" in text and "2000" in text


def test_ratios_for_an_image_and_one_size(cli: Cli, tmp_path: Path) -> None:
    image = tmp_path / "shape.png"
    image.write_bytes(make_png(400, 300))
    run = ok(cli("ratios", "--for", str(image), "--size", "4k"))
    rows = [line.split() for line in run.stdout.splitlines() if line.split()[0] in TABLE]
    assert [row[0] for row in rows if "*" in row] == ["4:3"]
    assert ["4:3", "*", "4800x3584"] in rows
    assert "shape.png (400x300)" in run.stdout
    data = json.loads(ok(cli("ratios", "--for", str(image), "--json")).stdout)
    assert [row["ratio"] for row in data["ratios"] if row["closest"]] == ["4:3"]
    fails(cli("ratios", "--for", str(tmp_path / "nope.png")), 2, "nope.png")
    fails(cli("ratios", "--size", "5K"), 2, "5K")


# -- config -------------------------------------------------------------------------------------


def test_config_set_key_from_stdin_then_use_it(cli: Cli, server: FakeDMX, png: Path) -> None:
    path = Path(os.environ["DMXEDIT_CONFIG"])
    secret = "sk-fromfile0000000000wxyz"
    ok(cli("config", "set", "api-key", "-", key=None, input=f"{secret}\n".encode()))
    assert secret in path.read_text()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    got = ok(cli("config", "get", "api-key", key=None))
    assert got.stdout.strip() == "sk-…wxyz" and secret not in got.stdout + got.stderr
    ok(cli("edit", str(png), "-p", "x", key=None))
    assert server.posts()[0].headers["authorization"] == f"Bearer {secret}"
    # The environment's key beats the file's.
    ok(cli("edit", str(png), "-p", "x"))
    assert server.posts()[1].headers["authorization"] == f"Bearer {KEY}"


def test_config_set_api_key_without_a_terminal_does_not_hang(cli: Cli) -> None:
    run = fails(cli("config", "set", "api-key", key=None, timeout=20), 2, "terminal")
    assert "config set api-key -" in run.stderr


def test_config_list_shows_values_and_sources(cli: Cli, server: FakeDMX) -> None:
    ok(cli("config", "set", "model", "file-model"))
    run = ok(cli("config", "list", env={"DMXAPI_BASE_URL": "http://127.0.0.1:1/v1"}))
    rows = {line.split()[0]: line for line in run.stdout.splitlines()}
    assert set(rows) >= {"api-key", "base-url", "model", "output", "ratio", "size", "format"}
    assert "(env)" in rows["base-url"] and "127.0.0.1:1" in rows["base-url"]
    assert "(file)" in rows["model"] and "file-model" in rows["model"]
    assert "(default)" in rows["timeout"] and "600" in rows["timeout"]
    assert "(env)" in rows["api-key"] and "sk-…abcd" in rows["api-key"]
    data = json.loads(ok(cli("config", "list", "--json")).stdout)
    assert data["settings"]["model"] == {"value": "file-model", "source": "file"}
    assert data["settings"]["api-key"]["value"] == "sk-…abcd"


def test_config_get_unset_path_and_bad_values(cli: Cli) -> None:
    path = Path(os.environ["DMXEDIT_CONFIG"])
    assert ok(cli("config", "path")).stdout.strip() == str(path)
    ok(cli("config", "set", "size", "4k"))
    assert ok(cli("config", "get", "size")).stdout.strip() == "4K"
    ok(cli("config", "unset", "size"))
    assert ok(cli("config", "get", "size")).stdout.strip() in ("", "-")
    fails(cli("config", "set", "timeout", "abc"), 2, "abc")
    fails(cli("config", "set", "retries", "-3"), 2, "-3")
    fails(cli("config", "set", "base-url", "file:///x"), 2, "file:///x")
    fails(cli("config", "set", "nokey", "1"), 2, "nokey")
    fails(cli("config", "get", "nokey"), 2, "nokey")


def test_config_values_become_defaults(cli: Cli, server: FakeDMX, png: Path) -> None:
    ok(cli("config", "set", "ratio", "3:2"))
    ok(cli("config", "set", "size", "2k"))
    ok(cli("edit", str(png), "-p", "x"))
    ok(cli("edit", str(png), "-p", "x", "--size", "1K"))
    fields = [p.fields for p in server.posts()]
    assert (fields[0]["aspect_ratio"], fields[0]["size"]) == ("3:2", "2K")
    assert fields[1]["size"] == "1K"


def test_group_readable_config_with_a_key_warns(cli: Cli, png: Path) -> None:
    ok(cli("config", "set", "api-key", "-", key=None, input=b"sk-grouped000000000000\n"))
    path = Path(os.environ["DMXEDIT_CONFIG"])
    path.chmod(0o644)
    run = ok(cli("config", "list", key=None))
    assert "warning" in run.stderr.lower() and str(path) in run.stderr


# -- the rest ---------------------------------------------------------------------------------


def test_version_and_module_entry_point(cli: Cli) -> None:
    from dmxedit import __version__

    assert ok(cli("--version")).stdout.strip() == f"dmxedit {__version__}"
    proc = subprocess.run(
        [sys.executable, "-m", "dmxedit", "--version"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0 and proc.stdout.strip() == f"dmxedit {__version__}"


@pytest.mark.parametrize(
    ("command", "options"),
    [
        (
            ["edit"],
            [
                "--prompt",
                "--prompt-file",
                "--ratio",
                "--size",
                "--model",
                "--format",
                "--output",
                "--base-url",
                "--timeout",
                "--retries",
                "--retry-server-errors",
                "--save-metadata",
                "--param",
                "--json",
                "--dry-run",
                "--quiet",
                "--verbose",
                "--each",
                "--concurrency",
            ],
        ),
        (["generate"], ["--prompt", "--ratio", "--size", "--format", "--output", "--dry-run"]),
        (["batch"], ["--concurrency", "--results", "--dry-run", "--json", "--resend-unknown"]),
        (["ratios"], ["--size", "--json", "--for"]),
        ([], ["--version", "edit", "generate", "batch", "ratios", "config"]),
        (["config"], ["set", "get", "unset", "list", "path"]),
    ],
)
def test_help_lists_every_option(cli: Cli, command: list[str], options: list[str]) -> None:
    run = ok(cli(*command, "--help"))
    for option in options:
        assert option in run.stdout, option


def test_unknown_command_and_option_are_exit_2(cli: Cli) -> None:
    fails(cli("edti"), 2, "edit")
    fails(cli("ratios", "--bogus"), 2, "--bogus")


def test_b64_payload_roundtrip_is_exact(
    cli: Cli, server: FakeDMX, png: Path, tmp_path: Path
) -> None:
    # A b64 answer split over many chunks, with line breaks in the base64 text.
    data = make_png(300, 200, filler=11)
    text = base64.encodebytes(data).decode("ascii")
    server.script(EDITS, Reply(json={"data": [{"b64_json": text}]}, chunked=True, chunk_size=777))
    run = ok(cli("edit", str(png), "-p", "x", "--format", "b64_json"))
    assert (tmp_path / run.stdout.strip()).read_bytes() == data


@pytest.mark.parametrize(
    ("raw", "sent"),
    [
        ("007", "007"),
        ("1_000", "1_000"),
        ("7", 7),
        ("-3", -3),
        ("1.5", 1.5),
        ("1e3", 1000.0),
        ("0x10", "0x10"),
        ("+1", "+1"),
        (" 8 ", 8),
        ("nan", "nan"),
        ("Infinity", "Infinity"),
        ("true", True),
        ("False", False),
    ],
)
def test_generate_params_are_numbers_only_in_json_syntax(
    cli: Cli, server: FakeDMX, raw: str, sent: Any
) -> None:
    expect(cli("generate", "-p", "x", "--param", f"seed={raw}"))
    (post,) = server.posts(GENERATIONS)
    assert post.json["seed"] == sent and type(post.json["seed"]) is type(sent)


@pytest.mark.e2e
def test_each_json_summary_lists_every_job_with_its_inputs_in_order(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    names = []
    for i in range(3):
        path = tmp_path / f"p{i}.png"
        path.write_bytes(PNG_BYTES[:30] + bytes([i]) + PNG_BYTES[31:])
        names.append(str(path))
    server.on_request = lambda r: (
        Reply(status=400, json={"error": {"message": "no"}})
        if r.images and r.images[0].filename == "p1.png"
        else None
    )
    run = cli("edit", "--each", *names, "-p", "x", "--json")
    assert run.code == 7, run.output
    jobs = json.loads(run.stdout)["jobs"]
    assert [j["inputs"] for j in jobs] == [[str(Path(n).resolve())] for n in names]
    assert [j["status"] for j in jobs] == ["ok", "failed", "ok"]
    assert len(jobs[0]["files"]) == 1 and jobs[1]["files"] == [] and jobs[1]["exit_code"] == 4
    bad = cli("edit", "--each", names[0], str(tmp_path / "missing.png"), "-p", "x")
    assert bad.code == 2 and "image 2:" in bad.stderr and "line" not in bad.stderr


@pytest.mark.e2e
def test_json_timings_include_the_download_and_add_up(cli: Cli, server: FakeDMX, png: Path) -> None:
    timings = json.loads(expect(cli("edit", str(png), "-p", "x", "--json")).stdout)["timings"]
    stages = ("upload_s", "wait_s", "receive_s", "download_s")
    assert all(stage in timings for stage in stages), timings
    assert sum(timings[s] for s in stages) <= timings["total_s"] + 0.01
