"""A Ctrl-C that Python raised inside a garbage-collector callback is printed and dropped
("Exception ignored in: ... KeyboardInterrupt"), and the run went on downloading (CI
caught it on Python 3.10). The CLI's handler also notes the interrupt
(core/interrupts.py); the loops that run long in the main thread raise it again."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from fakeserver import EDITS, GENERATIONS, PNG_BYTES, FakeDMX, Reply, make_big_png
from helpers import Cli, partial_files, wait_until

from dmxedit.core import interrupts


def test_a_noted_interrupt_stops_a_download_and_keeps_the_url(
    cli: Cli, server: FakeDMX, png: Path, tmp_path: Path
) -> None:
    big = make_big_png(3 * 1024 * 1024)
    url = server.add_file("slow.png", big)
    server.script(EDITS, Reply(json={"data": [{"url": url}]}))
    server.script(
        "/files/slow.png", Reply(body=big, chunked=True, chunk_size=8192, chunk_pause=0.05)
    )

    def swallowed() -> None:  # the handler ran; its KeyboardInterrupt was lost
        out = tmp_path / "output"
        wait_until(lambda: out.exists() and partial_files(out) != [])
        interrupts.note()

    helper = threading.Thread(target=swallowed, daemon=True)
    helper.start()
    run = cli("edit", str(png), "-p", "x")
    helper.join()
    assert run.code == 130, run.stderr
    assert run.stdout.split() == [url]  # the paid result's URL, as for any interrupt
    assert partial_files(tmp_path) == []
    interrupts.check()  # forgotten when the run ended: nothing raised here


def test_check_raises_only_in_the_main_thread() -> None:
    interrupts.note()
    try:
        raised: list[bool] = []

        def worker() -> None:
            try:
                interrupts.check()
                raised.append(False)
            except KeyboardInterrupt:
                raised.append(True)

        thread = threading.Thread(target=worker)
        thread.start()
        thread.join()
        assert raised == [False]  # a batch's running jobs finish after the first Ctrl-C
        with pytest.raises(KeyboardInterrupt):
            interrupts.check()
    finally:
        interrupts.forget()
    interrupts.check()


def test_a_ctrl_c_while_a_received_image_is_moved_into_place_waits_for_it(
    cli: Cli, server: FakeDMX, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A b64 result has fully arrived (paid): a Ctrl-C while it is moved into place is
    noted, not raised, so the image is saved instead of removed with the temporaries."""
    import signal

    from dmxedit.cli import app
    from dmxedit.store.results import Saver

    real = Saver.finish

    def interrupted_finish(self: Saver, *args: object, **kwargs: object) -> object:
        app._terminate(signal.SIGINT, None)  # the CLI's handler, as the signal calls it
        return real(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Saver, "finish", interrupted_finish)
    server.script(GENERATIONS, Reply(json=server.b64_result(PNG_BYTES)))
    run = cli("generate", "-p", "x", "--format", "b64_json", "-o", str(tmp_path / "out"))
    assert run.code == 0, run.stderr
    (saved,) = list((tmp_path / "out").iterdir())
    assert run.stdout.split() == [str(saved)]
