"""The operator's program: `chatnode serve`, `chatnode schema`, `chatnode status`.

It puts the parts together (a Store from the operator's settings, a Node on
it, the signals that drain it), so it lives beside the packages it
assembles rather than in any one of them. Installed as the `chatnode`
command; `python -m chatnode` and `bin/chatnode` run the same `main`.
"""

from ._cli import build_parser, main

__all__ = ["build_parser", "main"]
