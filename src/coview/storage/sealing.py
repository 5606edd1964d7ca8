"""Secrets at rest: sealed with AES-256-GCM under a key derived from the server's secret key.

A sealed value reads ``enc:v1:<key id>:<base64url of nonce, ciphertext and tag>``:

* the key is HKDF-SHA256 of the secret key with info ``coview secrets at rest v1`` (32 bytes),
  never the secret key itself, which also signs agent tokens;
* the key id is HKDF-SHA256 of the secret key with info ``coview secrets at rest v1 key id``
  (4 bytes, in hex): a value names the key that opens it, and the id tells nothing of the key;
* the nonce is 12 random bytes, new at every sealing;
* the associated data is the value's place (``groups.visitor_token_secret:777``), so that a
  sealed value copied into another row or column does not open there.

A value without the prefix is plaintext written before secrets were sealed: it is read as it
is, and :meth:`Keyring.reseal` seals it.

Pure: no I/O, no clock; where the secret keys come from is ``coview.storage.key_file``.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from coview.errors import Unavailable

PREFIX = "enc:v1:"
_INFO = b"coview secrets at rest v1"
_INFO_KEY_ID = b"coview secrets at rest v1 key id"
_NONCE_BYTES = 12

Reason = Literal["unknown_key", "damaged"]


class CannotUnseal(Unavailable):
    """A stored secret does not open with the keys this process was given.

    ``reason`` is ``unknown_key`` (sealed with a key that is not among them: ``key_id`` names
    it) or ``damaged`` (the key is known but the value was altered or moved from its place).
    """

    code = "secret_key_mismatch"

    def __init__(self, message: str, *, place: str, key_id: str, reason: Reason) -> None:
        super().__init__(message, part="secret key")
        self.place = place
        self.key_id = key_id
        self.reason = reason


def _derive(secret: str, info: bytes, length: int) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=info).derive(
        secret.encode())


@dataclass(frozen=True, slots=True)
class SealingKey:
    """A key derived from one secret key; ``source`` says where that came from."""

    key_id: str
    source: str
    _aead: AESGCM = field(repr=False, compare=False)

    @classmethod
    def derive(cls, secret: str, *, source: str) -> SealingKey:
        """The sealing key of the secret key ``secret``."""
        return cls(_derive(secret, _INFO_KEY_ID, 4).hex(), source,
                   AESGCM(_derive(secret, _INFO, 32)))

    def describe(self) -> str:
        return f"{self.source} (key {self.key_id})"


def is_sealed(stored: str) -> bool:
    """Whether a stored value is sealed (else it is plaintext from an older version)."""
    return stored.startswith(PREFIX)


class Keyring:
    """The current key, which seals, and older keys, which only open.

    ``settle``, if given, is called once before the first sealing and returns the key to seal
    with: a new key is kept somewhere (or one kept meanwhile is found) only when something is
    sealed with it, never when the stored secrets turn out to need another key.
    """

    def __init__(self, current: SealingKey, older: Sequence[SealingKey] = (), *,
                 settle: Callable[[], SealingKey] | None = None) -> None:
        self.older = tuple(older)
        self._settle = settle
        self._by_id: dict[str, SealingKey] = {}
        self._make_current(current)

    def _make_current(self, current: SealingKey) -> None:
        self.current = current
        self.older = tuple(k for k in self.older if k.key_id != current.key_id)
        self._by_id = {k.key_id: k for k in (*self.older, current)}

    def describe(self) -> str:
        """The keys, for messages: their sources and ids, nothing secret (a current key not
        yet settled is told by its source alone: it has sealed nothing)."""
        current = self.current.source if self._settle else self.current.describe()
        return ", ".join([current, *(k.describe() for k in self.older)])

    def seal(self, plaintext: str, *, place: str) -> str:
        """Seal ``plaintext`` with the current key, for ``place`` only."""
        if self._settle is not None:
            settle, self._settle = self._settle, None
            self._make_current(settle())
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self.current._aead.encrypt(nonce, plaintext.encode(), place.encode())
        body = base64.urlsafe_b64encode(nonce + sealed).rstrip(b"=").decode()
        return f"{PREFIX}{self.current.key_id}:{body}"

    def unseal(self, stored: str, *, place: str) -> str:
        """The plaintext of a value stored at ``place`` (plaintext is returned as it is).

        Raises CannotUnseal if it was sealed with an unknown key, altered or moved.
        """
        if not is_sealed(stored):
            return stored
        key_id, _, body = stored[len(PREFIX):].partition(":")
        key = self._by_id.get(key_id)
        if key is None:
            raise CannotUnseal(
                f"{place} is sealed with key {key_id}, which is none of the keys given "
                f"({self.describe()})", place=place, key_id=key_id, reason="unknown_key")
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            if len(raw) <= _NONCE_BYTES:
                raise ValueError("too short")
            plaintext = key._aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], place.encode())
            return plaintext.decode()
        except (InvalidTag, ValueError, binascii.Error):
            raise CannotUnseal(
                f"{place} does not open with key {key_id}: it was altered, or copied from "
                "another place", place=place, key_id=key_id, reason="damaged") from None

    def is_current(self, stored: str) -> bool:
        """Whether a stored value is sealed with the current key (else it needs sealing)."""
        return stored.startswith(f"{PREFIX}{self.current.key_id}:")

    def reseal(self, stored: str, *, place: str) -> str | None:
        """The value sealed with the current key, or None if it already is.

        Plaintext and values sealed with an older key are (re)sealed; raises CannotUnseal as
        :meth:`unseal` does.
        """
        plaintext = self.unseal(stored, place=place)
        return None if self.is_current(stored) else self.seal(plaintext, place=place)
