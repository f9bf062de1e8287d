"""A call's progress value only grows, through every phase and every tick."""

from __future__ import annotations

from dmxedit.mcp.progress import Progress


def test_values_only_grow_and_stay_below_the_total() -> None:
    now = [0.0]
    progress = Progress(clock=lambda: now[0])
    seen = [progress.next()[0]]
    progress.upload_start(1000, 1)
    for sent in (0, 500, 1000, 1000):
        progress.upload_progress(sent)
        seen.append(progress.next()[0])
    progress.waiting()
    for _ in range(50):
        now[0] += 30
        seen.append(progress.next()[0])
    progress.download_start(None, "result")
    progress.download_progress(10)
    seen.append(progress.next()[0])
    progress.upload_start(1000, 1)  # a retry starts the upload again: the value does not drop
    seen.append(progress.next()[0])
    assert all(b > a for a, b in zip(seen, seen[1:], strict=False))
    assert seen[-1] < 100
    assert progress.next()[1] == "uploading"
