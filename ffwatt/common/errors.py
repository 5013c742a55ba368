"""The base of every error a user can fix. `ffwatt` catches it, prints `error: <message>` and
exits with its `exit_code` (2: a bad input; 130: interrupted)."""

from __future__ import annotations


class FfwattError(Exception):
    """A problem the user can fix; the message says where, what was expected and what was found."""

    exit_code = 2
