"""`dmxedit models` (SPEC section 11), the model list's parsing, and the errors that name
the model when DMXAPI has no channel for it (issue 16, point 3)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fakeserver import EDITS, GENERATIONS, MODELS, FakeDMX, Reply
from helpers import KEY, Cli, expect, jobs_file

from dmxedit.api.client import model_unusable, parse_models, site_hint
from dmxedit.core.catalog import is_image_model, other_sites
from dmxedit.core.errors import ApiError

pytestmark = pytest.mark.e2e
IMAGE_IDS = [
    "gemini-3-pro-image-preview",
    "gpt-image-1",
    "hunyuan-t2i",
    "nano-banana-2",
    "seedream-4.0",
]
NO_CHANNEL_CN = "当前分组 default 下对于模型 nano-banana-3 无可用渠道"
NO_CHANNEL_EN = "No available channel for model nano-banana-3 under group default (distributor)"


# -- dmxedit models ------------------------------------------------------------------------


def ids(stdout: str) -> list[str]:
    """The ids of the default listing (each line begins with one)."""
    return [line.split()[0] for line in stdout.splitlines()]


def test_models_lists_the_image_models_the_key_can_use(cli: Cli, server: FakeDMX) -> None:
    run = expect(cli("models"), 0, "5 image models of the 7 your key can use")
    assert ids(run.stdout) == IMAGE_IDS
    assert server.posts() == []
    (listing,) = server.requests
    assert (listing.method, listing.path) == ("GET", MODELS)
    assert listing.headers["authorization"] == f"Bearer {KEY}"


def test_models_all_lists_every_model(cli: Cli, server: FakeDMX) -> None:
    run = expect(cli("models", "--all"), 0, "7 models at")
    assert "gpt-4o" in ids(run.stdout) and "deepseek-chat" in ids(run.stdout)
    assert ids(run.stdout) == sorted(ids(run.stdout), key=str.casefold)


def test_models_json(cli: Cli, server: FakeDMX) -> None:
    run = expect(cli("models", "--json", "--all"))
    models = {m["id"]: m for m in json.loads(run.stdout)}
    banana = models["nano-banana-2"]
    assert {k: banana[k] for k in ("id", "owned_by", "supported_endpoint_types", "image")} == {
        "id": "nano-banana-2",
        "owned_by": "vertex-ai",
        "supported_endpoint_types": ["image-generation"],
        "image": True,
    }
    # SPEC 12: what dmxedit knows of each (additive keys)
    assert banana["known"] is True and banana["door"] == "images"
    assert banana["table"]["ratios"][0] == "1:1" and banana["table"]["tiers"] == ["1K", "2K", "4K"]
    assert models["gpt-4o"]["image"] is False
    assert models["gpt-4o"]["known"] is False and models["gpt-4o"]["door"] is None


def test_models_warns_when_the_configured_model_is_not_listed(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    assert "not in this list" not in expect(cli("models")).stderr  # nano-banana-2 is listed
    config = tmp_path / "config" / "config.toml"
    config.parent.mkdir()
    config.write_text('model = "nano-banana-3"\n')
    config.chmod(0o600)
    expect(cli("models"), 0, "nano-banana-3, is not in this list", "no available channel")


def test_models_with_a_key_of_another_site_is_exit_3_with_the_site_hint(
    cli: Cli, server: FakeDMX
) -> None:
    server.key = "sk-made-on-the-com-site"
    env = {
        "DMXAPI_BASE_URL": "http://www.dmxapi.cn/v1",
        "HTTP_PROXY": server.origin,
        "NO_PROXY": "",
    }
    run = expect(cli("models", env=env), 3, "401", "https://www.dmxapi.com/v1")
    assert run.stdout == ""


def test_models_without_a_key_is_exit_3(cli: Cli, server: FakeDMX) -> None:
    expect(cli("models", key=None), 3, "dmxedit config set api-key")
    assert server.requests == []


def test_models_on_a_base_url_without_v1_is_404_with_the_hint(cli: Cli, server: FakeDMX) -> None:
    expect(cli("models", "--base-url", server.origin), 4, "404", "does not end in /v1")


def test_a_web_page_instead_of_the_list_says_so(cli: Cli, server: FakeDMX) -> None:
    # new-api serves its web console for paths it does not know: HTTP 200, HTML.
    page = b"<!doctype html><html><head><title>DMXAPI</title></head></html>"
    server.script("/models", Reply(body=page, content_type="text/html"))
    expect(cli("models", "--base-url", server.origin), 4, "a web page", "does not end in /v1")


def test_a_busy_listing_is_retried_and_a_500_too_it_is_never_billed(
    cli: Cli, server: FakeDMX
) -> None:
    server.script(
        MODELS,
        Reply(status=503, json={"error": {"message": "busy"}}),
        Reply(status=500, json={"error": {"message": "oops"}}),
    )
    run = expect(cli("models", "--retries", "2"))
    assert ids(run.stdout) == IMAGE_IDS
    assert len(server.requests) == 3
    assert "billed" not in run.stderr


def test_a_listing_that_keeps_failing_is_exit_5(cli: Cli, server: FakeDMX) -> None:
    server.script(MODELS, *[Reply(status=502, body=b"bad gateway")] * 2)
    expect(cli("models", "--retries", "1"), 5, "HTTP 502")


def test_models_never_shows_an_echoed_key(cli: Cli, server: FakeDMX) -> None:
    server.script(MODELS, Reply(status=401, json={"error": {"message": f"bad key {KEY}"}}))
    expect(cli("models"), 3, "sk-…abcd")


# -- the parsing, the filter, the site hint (units) ------------------------------------------


def test_parse_models_reads_new_api_openai_and_bare_lists() -> None:
    new_api = {
        "success": True,
        "object": "list",
        "data": [{"id": "a", "supported_endpoint_types": ["image-generation"]}],
    }
    (a,) = parse_models(json.dumps(new_api).encode(), "application/json", "https://x/v1")
    assert a.id == "a" and a.endpoint_types == ("image-generation",) and a.image
    bare = b'\xef\xbb\xbf["nano-banana-2", "gpt-4o", "gpt-4o", 7, {"id": ""}]'
    assert [m.id for m in parse_models(bare, "application/json", "https://x/v1")] == [
        "nano-banana-2",
        "gpt-4o",
    ]


def test_parse_models_refuses_what_is_not_a_list() -> None:
    with pytest.raises(ApiError, match="not a model list"):
        parse_models(b'{"data": {"id": "x"}}', "application/json", "https://x/v1")
    with pytest.raises(ApiError, match="error: nope"):
        parse_models(b'{"success": false, "message": "nope"}', "application/json", "https://x/v1")


@pytest.mark.parametrize(
    ("model_id", "kinds", "image"),
    [
        ("nano-banana-2", (), True),
        ("imagen-4.0", (), True),
        ("dall-e-3", (), True),
        ("FLUX.1-kontext-pro", (), True),
        ("doubao-seedream-4-0", (), True),
        ("hunyuan-t2i", ("image-generation",), True),
        ("gpt-4o", ("openai",), False),
        ("claude-sonnet-4", (), False),
    ],
)
def test_image_models(model_id: str, kinds: tuple[str, ...], image: bool) -> None:
    assert is_image_model(model_id, kinds) is image


def test_the_401_hint_names_the_other_sites() -> None:
    hint = site_hint("https://www.dmxapi.cn/v1")
    assert "https://www.dmxapi.com/v1 or https://ssvip.dmxapi.com/v1" in hint
    assert "www.dmxapi.cn/v1" not in other_sites("WWW.DMXAPI.CN")
    assert "another site" not in site_hint("https://relay.example/v1")


@pytest.mark.parametrize(
    ("body", "verdict"),
    [
        ({"error": {"message": NO_CHANNEL_CN, "type": "new_api_error"}}, "no channel"),
        ({"error": {"message": NO_CHANNEL_EN, "code": "model_not_found"}}, "no channel"),
        ({"error": {"message": "The model `x` does not exist", "code": None}}, "no channel"),
        ({"error": {"message": "该令牌无权访问模型 x"}}, "forbidden"),
        ({"error": {"message": "upstream is overloaded"}}, None),
        ({"error": {"message": "Invalid URL (POST /v1/images/edit)"}}, None),
    ],
)
def test_model_unusable(body: object, verdict: str | None) -> None:
    assert model_unusable(json.dumps(body, ensure_ascii=False).encode()) == verdict


# -- point 3: edit / generate / batch name the model and suggest `dmxedit models` -----------


def test_an_edit_with_no_channel_for_its_model_names_it_and_is_not_resent(
    cli: Cli, server: FakeDMX, png: Path
) -> None:
    server.script(EDITS, Reply(status=503, json={"error": {"message": NO_CHANNEL_CN}}))
    run = expect(
        cli("edit", str(png), "-p", "x", "-m", "nano-banana-3", "--json"),
        5,
        "no channel for the model 'nano-banana-3'",
        "Run `dmxedit models` to see the models your key can use.",
        NO_CHANNEL_CN,
    )
    error = json.loads(run.stdout)["error"]
    assert error["status"] == 503 and "dmxedit models" in error["message"]
    assert "may_be_billed" not in error
    assert len(server.posts()) == 1  # resending cannot help: the name is the problem


def test_a_generate_with_model_not_found_names_the_model(cli: Cli, server: FakeDMX) -> None:
    body = {"error": {"message": NO_CHANNEL_EN, "type": "new_api_error", "code": "model_not_found"}}
    server.script(GENERATIONS, Reply(status=503, json=body))
    expect(
        cli("generate", "-p", "x", "-m", "nano-banana-3"),
        5,
        "'nano-banana-3'",
        "dmxedit models",
    )


def test_an_openai_style_model_not_found_404_names_the_model(
    cli: Cli, server: FakeDMX, png: Path
) -> None:
    body = {"error": {"message": "The model `nb2` does not exist", "code": "model_not_found"}}
    server.script(EDITS, Reply(status=404, json=body))
    expect(cli("edit", str(png), "-p", "x", "-m", "nb2"), 4, "'nb2'", "dmxedit models")


def test_a_key_limited_to_other_models_names_the_model(
    cli: Cli, server: FakeDMX, png: Path
) -> None:
    server.script(
        EDITS, Reply(status=403, json={"error": {"message": "该令牌无权访问模型 nano-banana-2"}})
    )
    run = expect(cli("edit", str(png), "-p", "x"), 3, "may not use the model 'nano-banana-2'")
    assert "dmxedit models" in run.stderr and "issued it" not in run.stderr


def test_a_200_with_a_model_error_names_the_model(cli: Cli, server: FakeDMX, png: Path) -> None:
    server.script(EDITS, Reply(json={"error": {"message": NO_CHANNEL_EN}}))
    expect(cli("edit", str(png), "-p", "x"), 4, "about the model 'nano-banana-2'", "dmxedit models")


def test_a_busy_503_is_still_resent(cli: Cli, server: FakeDMX, png: Path) -> None:
    server.script(EDITS, Reply(status=503, json={"error": {"message": "upstream saturated"}}))
    expect(cli("edit", str(png), "-p", "x"))
    assert len(server.posts()) == 2


def test_a_batch_jobs_error_names_the_model(cli: Cli, server: FakeDMX, tmp_path: Path) -> None:
    jobs = jobs_file(tmp_path, 2)
    server.script(EDITS, *[Reply(status=503, json={"error": {"message": NO_CHANNEL_CN}})] * 2)
    expect(cli("batch", str(jobs), "-m", "nano-banana-3", "--concurrency", "1"), 7)
    lines = [
        json.loads(line) for line in jobs.with_suffix(".results.jsonl").read_text().splitlines()
    ]
    final = [line for line in lines if line["status"] == "failed"]
    assert len(final) == 2
    for line in final:
        assert "'nano-banana-3'" in line["error"] and "dmxedit models" in line["error"]
        assert line["exit_code"] == 5
    assert len(server.posts()) == 2
