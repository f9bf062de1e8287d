"""`dmxedit mcp` (SPEC 14): the engine as a Model Context Protocol server for AI agents.

On the optional extra ``dmxedit[mcp]`` (the official ``mcp`` SDK); imported only by the
``dmxedit mcp`` command. ``schemas`` derives the tools' input schemas from the typed
options, ``confine`` keeps paths under the roots and the output folder, ``tools`` runs
each tool on the engine, ``batches`` runs jobs files in the background, ``progress``
turns the engine's callbacks into progress values, and ``server`` is the SDK glue.
"""
