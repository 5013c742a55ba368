"""The base of every error a user can see. `ffwatt` catches it, prints `error: <message>` and
exits with its `exit_code` (2: a bad input or an environment that cannot serve; 130:
interrupted).

Every public exception class in ffwatt derives from `FfwattError` (tests/unit/test_errors.py
checks it), most with the standard-library class they were before as a second base, so an
`except ValueError` or `except OSError` around them keeps working. A message names what it
concerns (the file and JSON path, the scenario, the URL with its password redacted, the flag)
and says what was expected and what was found. Control-flow exceptions that never reach a user
stay private (`_Name`).
"""

from __future__ import annotations


class FfwattError(Exception):
    """A problem the user can fix; the message says where, what was expected and what was found."""

    exit_code = 2
