"""``Content-Disposition: attachment`` for a file name of any characters (RFC 6266, RFC 8187).

The quoted ``filename`` is an ASCII fallback (anything else, quotes, backslashes and controls
become ``_``); ``filename*`` carries the exact name, UTF-8 and percent-encoded, so no name can
break out of the header or inject another.
"""

from __future__ import annotations

from urllib.parse import quote

# RFC 8187 attr-char: what may stand unencoded in an ext-value.
_ATTR_CHARS = "!#$&+-.^_`|~"


def attachment(filename: str) -> str:
    fallback = "".join(ch if " " <= ch <= "~" and ch not in '"\\' else "_" for ch in filename) or "download"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe=_ATTR_CHARS)}"
