"""The command line: ``fastem fit``, ``predict``, ``score``, ``sample``, ``impute``,
``select`` and ``demo`` (``fastem --help``)."""

from ._commands import main

__all__ = ["main"]
