"""Encryption of sensitive fields at rest (tax ids, bank numbers), and the masks they are shown with.

A field is stored as a text token ``v1.<kid>.<base64url(nonce || ciphertext+tag)>``: AES-256-GCM
with a random 96-bit nonce, under the key named ``kid`` in a key ring. The caller's ``context``
(e.g. ``"org_1:investor_9:tax_id"``) is authenticated with it, so a token copied to another row,
field or org does not decrypt. Rotation: put a new key first in the ring and keep the old ones;
new tokens use the active key, old tokens keep decrypting under theirs.

A random 96-bit nonce is safe for about 2**32 encryptions under one key, far beyond the number of
investor fields a deployment holds; rotate well before that.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from collections.abc import Mapping
from types import MappingProxyType
from typing import NoReturn

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = [
    "FieldCipher",
    "FieldDecryptError",
    "generate_key",
    "last4",
    "mask_account_number",
    "mask_tax_id",
]

KEY_BYTES = 32
"""AES-256."""

NONCE_BYTES = 12
_TAG_BYTES = 16
_VERSION = "v1"
_DEFAULT_KID = "k1"
_KID = re.compile(r"[A-Za-z0-9_-]{1,32}")
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+={0,2}")
_TOKEN = re.compile(r"v1\.([A-Za-z0-9_-]{1,32})\.([A-Za-z0-9_-]+)")
_SSN_OR_EIN = re.compile(r"[0-9]{3}([- ])[0-9]{2}\1[0-9]{4}|[0-9]{2}[- ][0-9]{7}")
_MASK = "*"
_REVEALED = 4


class FieldDecryptError(Exception):
    """A field token did not decrypt: malformed, unknown key, wrong key or context, or tampered.

    The message never carries the token, a key or any plaintext, so it is safe to log.
    """


def generate_key() -> str:
    """A new random 32-byte key as unpadded base64url (43 characters), for ``from_secret``."""
    return _encode(secrets.token_bytes(KEY_BYTES))


class FieldCipher:
    """AES-256-GCM over a key ring: encrypts with the active key, decrypts with any key in the ring.

    Its repr names the key ids only; the keys are never part of any string it produces.
    """

    __slots__ = ("_active_kid", "_ciphers")

    def __init__(self, keys: Mapping[str, bytes], active_kid: str) -> None:
        if not keys:
            raise ValueError("the field encryption key ring is empty")
        ciphers: dict[str, AESGCM] = {}
        for kid, key in keys.items():
            if not isinstance(kid, str) or not _KID.fullmatch(kid):
                raise ValueError("a field encryption key id must be 1-32 characters of A-Z a-z 0-9 _ -")
            if not isinstance(key, bytes) or len(key) != KEY_BYTES:
                raise ValueError(f"field encryption key {kid!r} must be exactly {KEY_BYTES} bytes")
            ciphers[kid] = AESGCM(key)
        if active_kid not in ciphers:
            raise ValueError(f"the active field encryption key id {active_kid!r} is not in the key ring")
        self._ciphers: Mapping[str, AESGCM] = MappingProxyType(ciphers)
        self._active_kid = active_kid

    @classmethod
    def from_secret(cls, secret: str) -> FieldCipher:
        """Build the ring from a settings value.

        Either one base64url 32-byte key (its id is ``k1``), or ``kid:key,kid:key,...`` where the
        first key is the active one and the rest only decrypt. Padding is optional and whitespace
        around entries is ignored. A ``ValueError`` names the offending key id or entry number,
        never the key.
        """
        entries = [entry.strip() for entry in secret.split(",")]
        if len(entries) == 1 and ":" not in entries[0]:
            return cls({_DEFAULT_KID: _decode_key(entries[0], _DEFAULT_KID)}, _DEFAULT_KID)
        keys: dict[str, bytes] = {}
        for position, entry in enumerate(entries, start=1):
            kid, separator, encoded = (part.strip() for part in entry.partition(":"))
            if not separator or not _KID.fullmatch(kid):
                raise ValueError(
                    f"field encryption key entry {position} is not `kid:base64url-key` "
                    "(kid: 1-32 characters of A-Z a-z 0-9 _ -)"
                )
            if kid in keys:
                raise ValueError(f"field encryption key id {kid!r} appears twice")
            keys[kid] = _decode_key(encoded, kid)
        return cls(keys, next(iter(keys)))

    @property
    def active_kid(self) -> str:
        """The id of the key new tokens are encrypted with."""
        return self._active_kid

    @property
    def kids(self) -> tuple[str, ...]:
        """The ids of every key that can decrypt, the active one included."""
        return tuple(self._ciphers)

    def __repr__(self) -> str:
        return f"FieldCipher(active_kid={self._active_kid!r}, kids={list(self._ciphers)!r})"

    def __reduce__(self) -> NoReturn:
        # Pickling would copy the keys into whatever stores the pickle; refuse instead.
        raise TypeError("a FieldCipher cannot be pickled")

    def encrypt(self, plaintext: str, *, context: str) -> str:
        """Encrypt ``plaintext`` (UTF-8) under the active key, bound to ``context``.

        Two encryptions of the same value differ (fresh random nonce), so equal tokens reveal
        nothing and tokens cannot be searched by value. ``context`` must be non-empty: a field with
        no context could be moved anywhere.
        """
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = self._ciphers[self._active_kid].encrypt(
            nonce, plaintext.encode("utf-8"), _associated_data(self._active_kid, context)
        )
        return f"{_VERSION}.{self._active_kid}.{_encode(nonce + sealed)}"

    def decrypt(self, token: str, *, context: str) -> str:
        """The plaintext of ``token``, which must have been encrypted with this ``context``.

        Raises ``FieldDecryptError`` when the token is malformed, names a key not in the ring, or
        fails authentication (wrong key, wrong context, any byte changed).
        """
        _require_context(context)
        match = _TOKEN.fullmatch(token) if isinstance(token, str) else None
        if match is None:
            raise FieldDecryptError("the field token is malformed")
        kid, payload = match.groups()
        cipher = self._ciphers.get(kid)
        if cipher is None:
            raise FieldDecryptError("the field token names a key id that is not in the key ring")
        try:
            raw = _decode(payload)
        except ValueError:
            raise FieldDecryptError("the field token is malformed") from None
        if len(raw) < NONCE_BYTES + _TAG_BYTES:
            raise FieldDecryptError("the field token is malformed")
        try:
            plaintext = cipher.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], _associated_data(kid, context))
            return plaintext.decode("utf-8")
        except (InvalidTag, UnicodeDecodeError):
            raise FieldDecryptError(
                "the field token failed authentication (wrong key, wrong context, or altered)"
            ) from None


def _associated_data(kid: str, context: str) -> bytes:
    """The authenticated data: format version, key id and the caller's context, unambiguously joined.

    The key id cannot contain NUL and the context comes last, so no two (kid, context) pairs
    produce the same bytes.
    """
    _require_context(context)
    return b"\x00".join((b"cornerstone.field", _VERSION.encode(), kid.encode(), context.encode("utf-8")))


def _require_context(context: str) -> None:
    if not isinstance(context, str) or not context:
        raise ValueError("a field encryption context is required (e.g. 'org_1:investor_9:tax_id')")


def _encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _decode(text: str) -> bytes:
    """Strict unpadded-or-padded base64url; ``ValueError`` on anything else."""
    if not _BASE64URL.fullmatch(text):
        raise ValueError("not base64url")
    unpadded = text.rstrip("=")
    try:
        raw = base64.urlsafe_b64decode(unpadded + "=" * (-len(unpadded) % 4))
    except binascii.Error:
        raise ValueError("not base64url") from None
    if _encode(raw) != unpadded:  # non-canonical trailing bits: another text for the same bytes
        raise ValueError("not canonical base64url")
    return raw


def _decode_key(encoded: str, kid: str) -> bytes:
    try:
        key = _decode(encoded)
    except ValueError:
        key = b""
    if len(key) != KEY_BYTES:
        raise ValueError(
            f"field encryption key {kid!r} must be base64url for exactly {KEY_BYTES} bytes "
            "(generate one with cornerstone.kit.field_crypto.generate_key())"
        )
    return key


def mask_tax_id(value: str) -> str:
    """Mask a tax id for display, revealing at most its last 4 characters.

    A 9-digit SSN or EIN keeps its shape: ``123-45-6789`` -> ``***-**-6789``, ``12-3456789`` ->
    ``**-***6789`` (a space may stand for the dash). Anything else is masked as an account number.
    """
    if _SSN_OR_EIN.fullmatch(value):
        return re.sub("[0-9]", _MASK, value[:-_REVEALED]) + value[-_REVEALED:]
    return mask_account_number(value)


def mask_account_number(value: str) -> str:
    """Replace all but the last 4 characters with ``*``, keeping the length.

    ``000123456789`` -> ``********6789``. A value of 4 characters or fewer is masked entirely, so
    a mask never reveals a whole value.
    """
    if len(value) <= _REVEALED:
        return _MASK * len(value)
    return _MASK * (len(value) - _REVEALED) + value[-_REVEALED:]


def last4(value: str) -> str:
    """The last 4 letters or digits of ``value`` (separators skipped), for "ending in 6789".

    Empty when ``value`` has 4 or fewer letters and digits, which would reveal all of it.
    """
    alphanumerics = [character for character in value if character.isalnum()]
    if len(alphanumerics) <= _REVEALED:
        return ""
    return "".join(alphanumerics[-_REVEALED:])
