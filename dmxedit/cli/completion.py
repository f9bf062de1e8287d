"""`dmxedit completion bash|zsh|fish`: print the shell completion script.

The scripts are generated from the command tree by scripts/gen_completions.py and ship
inside the package (``dmxedit/completions/``), so an install with pip or pipx, which has
no ``completions/`` folder, can load them; printing one imports nothing heavy.
"""

from __future__ import annotations

from typing import Annotated

import typer

from dmxedit.cli.context import RunContext
from dmxedit.cli.options import command
from dmxedit.core.errors import InputError
from dmxedit.core.i18n import T

#: The shells, and each one's script in dmxedit/completions/.
SCRIPTS = {"bash": "dmxedit.bash", "zsh": "_dmxedit", "fish": "dmxedit.fish"}


@command()
def completion(
    ctx: RunContext,
    shell: Annotated[
        str,
        typer.Argument(help="bash, zsh or fish.", metavar="bash|zsh|fish", show_default=False),
    ],
) -> None:
    """Print the shell completion script for bash, zsh or fish.

    \b
    bash:  eval "$(dmxedit completion bash)"             (in ~/.bashrc)
    zsh:   dmxedit completion zsh > ~/.zfunc/_dmxedit    (with fpath+=~/.zfunc before compinit)
    fish:  dmxedit completion fish > ~/.config/fish/completions/dmxedit.fish
    """
    name = SCRIPTS.get(shell.strip().lower())
    if name is None:
        raise InputError(
            T(
                "No completion script for {shell!r}: dmxedit has them for bash, zsh and fish.",
                shell=shell,
            )
        )
    from importlib import resources

    scripts = resources.files("dmxedit").joinpath("completions")
    text = scripts.joinpath(name).read_text(encoding="utf-8")
    ctx.stdout.write(text)
    ctx.stdout.flush()
