"""The download deadline (`download-timeout`): a setting, an option, and a limit by the
clock on each result download, which the command line passes to the client."""

from __future__ import annotations

from fakeserver import PNG_BYTES, FakeDMX, Reply
from helpers import Cli

from dmxedit.core.options import ImageOptions
from dmxedit.core.settings import Settings, resolve
from dmxedit.engine.pipeline import make_client

GENERATIONS = "/v1/images/generations"


def test_a_download_trickling_past_download_timeout_ends_with_its_url(
    cli: Cli, server: FakeDMX
) -> None:
    url = server.add_file("slow.png", PNG_BYTES)
    server.script(GENERATIONS, Reply(json={"created": 1, "data": [{"url": url}]}))
    server.script(
        "/files/slow.png", Reply(body=PNG_BYTES, chunked=True, chunk_size=1, chunk_pause=0.2)
    )
    run = cli("generate", "-p", "snow", "--download-timeout", "1")
    assert run.code == 6, run.output
    assert "did not finish within 1 s" in run.stderr
    assert url in run.stderr
    assert len(server.gets("/files/slow.png")) == 1  # a deadline is not retried


def test_download_timeout_is_a_setting_the_client_gets(cli: Cli) -> None:
    assert cli("config", "set", "download-timeout", "42").code == 0
    assert cli("config", "get", "download-timeout").stdout.strip() == "42.0"
    settings = Settings(api_key="sk-x", download_timeout=42.0)
    assert make_client(settings, ImageOptions()).download_timeout == 42.0
    flag = resolve(ImageOptions(download_timeout=7), env={"DMXAPI_API_KEY": "sk-x"})
    assert flag.download_timeout == 7.0 and Settings().download_timeout == 300.0


def test_a_download_timeout_that_is_not_a_positive_number_is_refused(cli: Cli) -> None:
    run = cli("config", "set", "download-timeout", "0")
    assert run.code == 2, run.output
    assert "download-timeout" in run.stderr
