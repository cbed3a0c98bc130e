"""Show names from data (file names, zip members, TFRecord ``image_name``) safely.

Such names are data a user may not control: a newline in one forges a line of a report, an
escape sequence rewrites the terminal, a right-to-left override reverses what follows, and a
file name that is not UTF-8 carries lone surrogates that cannot even be printed. Every message
that shows a name passes it through :func:`printable` first.

Example:
    >>> printable("photo\\n\\x1b[2Jx\\u202e.jpg")
    'photo\\\\n\\\\x1b[2Jx\\\\u202e.jpg'
"""

from __future__ import annotations

__all__ = ["printable"]

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable(text: str) -> str:
    """``text`` with every character that is not printable escaped (``\\n``, ``\\x00``,
    ``\\x1b``, ``\\u202e``, ...), spaces kept.

    Control characters, format characters (bidirectional overrides), line and paragraph
    separators and lone surrogates (undecodable bytes of a file name, shown as the byte
    ``\\xNN``) are escaped; backslashes are not, so escaping twice changes nothing.
    """
    if text.isprintable():
        return text
    return "".join(_escape(char) for char in text)


def _escape(char: str) -> str:
    if char.isprintable() or char == " ":
        return char
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # os.fsdecode's surrogateescape of byte code - 0xDC00
        return f"\\x{code - 0xDC00:02x}"
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
