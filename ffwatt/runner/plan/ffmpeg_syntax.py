"""How ffmpeg reads a `key=value` list handed to an encoder, mirrored so a check sees what the
library will see, not what the scenario file shows.

* `get_token(text, pos, term)`: libavutil/avstring.c `av_get_token`. Leading whitespace skipped; a
  backslash takes the next character literally; `'...'` takes everything up to the next quote
  literally (an unclosed quote runs to the end); the token stops at the first unquoted,
  unescaped character of `term`; trailing whitespace after the last quoted or escaped character is
  dropped. So `'dump-yuv'=x` is the key `dump-yuv` and `d\\ump-yuv` is `dump-yuv`.
* `dict_pairs(text, pairs_sep)`: libavutil/dict.c `av_dict_parse_string(text, "=", pairs_sep)`,
  which `-x264-params`, `-x265-params`, `-svtav1-params` and `-aom-params` go through
  (libavutil/opt.c `set_string_dict`: `AV_OPT_TYPE_DICT` is parsed with `"="` and `":"`) and which
  libavcodec/libkvazaar.c calls with `","` for `-kvazaar-params`. The key is a token that ends at
  `=` only (a `:` before the first `=` belongs to the key); the value ends at `pairs_sep`; an empty
  key or value fails the whole string, as ffmpeg does (`ValueError`).
* `x264opts_pairs(text)`: libavcodec/libx264.c `-x264opts`, split with
  `sscanf(p, "%4095[^:=]=%4095[^:]")` at every `:`, no quoting; a bare name is `name=1`.

Followed: FFmpeg's libavutil/avstring.c, libavutil/dict.c, libavutil/opt.c, libavcodec/libx264.c,
libavcodec/libx265.c, libavcodec/libkvazaar.c, libavcodec/libsvtav1.c, libavcodec/libaomenc.c.
"""

from __future__ import annotations

__all__ = ["dict_pairs", "get_token", "x264opts_pairs"]

_WHITESPACES = " \n\t\r"  # avstring.c WHITESPACES


def get_token(text: str, pos: int, term: str) -> tuple[str, int]:
    """The token at `pos` as `av_get_token(&p, term)` returns it, and where it stopped (at a `term`
    character, or the end)."""
    n = len(text)
    while pos < n and text[pos] in _WHITESPACES:
        pos += 1
    out: list[str] = []
    end = 0  # length of `out` after the last escaped or quoted character: whitespace up to it stays
    while pos < n and text[pos] not in term:
        c = text[pos]
        pos += 1
        if c == "\\" and pos < n:
            out.append(text[pos])
            pos += 1
            end = len(out)
        elif c == "'":
            while pos < n and text[pos] != "'":
                out.append(text[pos])
                pos += 1
            if pos < n:  # the closing quote
                pos += 1
                end = len(out)
        else:
            out.append(c)
    while len(out) > end and out[-1] in _WHITESPACES:
        out.pop()
    return "".join(out), pos


def dict_pairs(text: str, pairs_sep: str = ":") -> list[tuple[str, str]]:
    """The `(key, value)` pairs `av_dict_parse_string(text, "=", pairs_sep)` sets, in order; `ValueError`
    where ffmpeg fails the string (a pair without key, `=` or value)."""
    pairs = []
    pos, n = 0, len(text)
    while pos < n:
        key, pos = get_token(text, pos, "=")
        value = None
        if key and pos < n and text[pos] == "=":
            value, pos = get_token(text, pos + 1, pairs_sep)
        if not key or not value:
            raise ValueError(f"pair {len(pairs) + 1} has no key=value (ffmpeg refuses the whole list)")
        pairs.append((key, value))
        if pos < n:
            pos += 1  # the separator
    return pairs


def x264opts_pairs(text: str) -> list[tuple[str, str]]:
    """The `(name, value)` pairs libx264.c gives `x264_param_parse` for `-x264opts text`."""
    pairs = []
    for piece in text.split(":"):
        name, sep, value = piece.partition("=")
        # %4095[^:=] needs one character; a piece starting with '=' gives the name "" (x264 refuses it)
        pairs.append((name[:4095], value[:4095] if sep and value else "1"))
    return pairs
