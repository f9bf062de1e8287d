"""Splitting one jobs file across machines: ``batch --shard K/N``.

A job belongs to shard ``sha256(id) mod N + 1``: the same on every machine, every run and
every Python (never ``hash()``, which changes per process). Each shard writes its own
results file, ``JOBS.shard-K-of-N.results.jsonl``, so shards never share a lock.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from dmxedit.core import env as environment
from dmxedit.core.errors import InputError
from dmxedit.core.i18n import T

#: The environment variable Kubernetes Indexed Jobs set (zero-based).
INDEX_ENV = environment.JOB_COMPLETION_INDEX
MAX_SHARDS = 100_000
_SHARD_FILE = re.compile(r"\.shard-([1-9][0-9]*)-of-([1-9][0-9]*)\.results\.jsonl$")


@dataclass(frozen=True)
class Shard:
    k: int  # 1-based
    n: int

    def owns(self, job_id: str) -> bool:
        return shard_of(job_id, self.n) == self.k

    def __str__(self) -> str:
        return f"{self.k}/{self.n}"


def shard_of(job_id: str, n: int) -> int:
    """The shard (1..n) a job id belongs to: SHA-256 of the id, big-endian, mod n."""
    digest = hashlib.sha256(job_id.encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest, "big") % n + 1


def parse_shard(text: str, environ: Mapping[str, str] | None = None) -> Shard:
    """``K/N`` (1 <= K <= N), or ``auto/N`` with K from JOB_COMPLETION_INDEX + 1."""
    env = environment.given(environ)
    hint = T(
        "Give --shard K/N with 1 <= K <= N, e.g. --shard 2/4, or --shard auto/N.",
    )
    k_text, slash, n_text = text.strip().partition("/")
    if not slash or not n_text.strip().isdigit() or not 1 <= int(n_text) <= MAX_SHARDS:
        raise InputError(T("--shard {text!r} is not K/N.", text=text), hint=hint)
    n = int(n_text)
    k_text = k_text.strip()
    if k_text.lower() == "auto":
        index = environment.job_index(env)
        if index is None or not index.strip().isdigit():
            raise InputError(
                T(
                    "--shard auto/{n} takes the shard from {env}, which is not set.",
                    n=n,
                    env=INDEX_ENV,
                )
                if index is None
                else T(
                    "--shard auto/{n} takes the shard from {env}, which is {index!r}, not a "
                    "number.",
                    n=n,
                    env=INDEX_ENV,
                    index=index,
                ),
                hint=T(
                    "Kubernetes sets it in Indexed Jobs (completionMode: Indexed); "
                    "elsewhere give --shard K/N.",
                ),
            )
        k = int(index) + 1
        if k > n:
            raise InputError(
                T(
                    "{index_env} is {index}, so this is shard {k}, but there are only {n}.",
                    index_env=INDEX_ENV,
                    index=index,
                    k=k,
                    n=n,
                ),
                hint=T(
                    "Set completions to {n} in the Indexed Job, or --shard auto/{k} or more.",
                    n=n,
                    k=k,
                ),
            )
        return Shard(k, n)
    if not k_text.isdigit() or not 1 <= int(k_text) <= n:
        raise InputError(T("--shard {text!r}: K must be from 1 to {n}.", text=text, n=n), hint=hint)
    return Shard(int(k_text), n)


def stem(jobs: Path) -> Path:
    """``folder/jobs`` for ``folder/jobs.jsonl``: what results file names start with."""
    name = jobs.name[: -len(".jsonl")] if jobs.name.endswith(".jsonl") else jobs.name
    return jobs.with_name(name)


def results_file(jobs: Path, shard: Shard | None) -> Path:
    """The default results file of a jobs file (of one shard of it)."""
    base = stem(jobs)
    if shard is None:
        return base.with_name(f"{base.name}.results.jsonl")
    return base.with_name(f"{base.name}.shard-{shard.k}-of-{shard.n}.results.jsonl")


def shard_files(jobs: Path) -> list[tuple[Shard, Path]]:
    """Every shard results file beside a jobs file, by N then K."""
    base = stem(jobs)
    found = []
    folder = base.parent if str(base.parent) else Path(".")
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    prefix = base.name + ".shard-"
    for name in names:
        if not name.startswith(prefix):
            continue
        match = _SHARD_FILE.search(name)
        if match and name[: match.start()] == base.name:
            k, n = int(match.group(1)), int(match.group(2))
            if 1 <= k <= n:
                found.append((Shard(k, n), base.with_name(name)))
    return sorted(found, key=lambda item: (item[0].n, item[0].k))
