"""Sealing secrets at rest: AES-GCM under keys derived from secret keys, without a database."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from coview.errors import Unavailable
from coview.storage.sealing import CannotUnseal, Keyring, SealingKey, is_sealed

KEY_A = "key-a-" + "a" * 40
KEY_B = "key-b-" + "b" * 40
KEY_WRONG = "key-c-" + "c" * 40
SECRET = "visitor-token-secret-0123456789abcdefghijk"
PLACE = "groups.visitor_token_secret:777"


def keyring(current: str, *older: str) -> Keyring:
    return Keyring(SealingKey.derive(current, source="current"),
                   [SealingKey.derive(k, source=f"old {i}") for i, k in enumerate(older)])


def key_id_of(secret_key: str) -> str:
    return SealingKey.derive(secret_key, source="").key_id


def hkdf(secret: str, info: bytes, length: int) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=info).derive(
        secret.encode())


def test_round_trip() -> None:
    """A sealed secret opens to itself, names its key, and shows nothing of the plaintext."""
    keys = keyring(KEY_A)
    sealed = keys.seal(SECRET, place=PLACE)
    assert sealed.startswith(f"enc:v1:{keys.current.key_id}:")
    assert is_sealed(sealed)
    assert SECRET not in sealed
    assert keys.unseal(sealed, place=PLACE) == SECRET
    assert keys.seal(SECRET, place=PLACE) != sealed  # a fresh nonce each time


def test_format_is_the_documented_one() -> None:
    """A value sealed by hand as the module docstring says (HKDF-SHA256, AES-GCM, place as
    associated data) opens: stored values keep opening whatever the code becomes."""
    key = hkdf(KEY_A, b"coview secrets at rest v1", 32)
    key_id = hkdf(KEY_A, b"coview secrets at rest v1 key id", 4).hex()
    nonce = bytes(range(12))
    body = AESGCM(key).encrypt(nonce, SECRET.encode(), PLACE.encode())
    stored = f"enc:v1:{key_id}:" + base64.urlsafe_b64encode(nonce + body).decode().rstrip("=")
    assert keyring(KEY_A).unseal(stored, place=PLACE) == SECRET


def test_key_ids_name_keys_without_telling_them() -> None:
    """A secret key always derives the same key id, another key another id, and neither the
    id nor the key's repr holds the secret key."""
    a, again, b = (SealingKey.derive(k, source="s") for k in (KEY_A, KEY_A, KEY_B))
    assert a.key_id == again.key_id != b.key_id
    assert len(a.key_id) == 8
    assert KEY_A not in repr(a)
    assert KEY_A not in keyring(KEY_A).describe()


def test_wrong_key_is_refused_clearly() -> None:
    """A value sealed with a key that is not given raises CannotUnseal naming the place and
    both key ids, never a key."""
    sealed = keyring(KEY_A).seal(SECRET, place=PLACE)
    other = keyring(KEY_B)
    with pytest.raises(CannotUnseal) as refused:
        other.unseal(sealed, place=PLACE)
    error = refused.value
    assert isinstance(error, Unavailable)
    assert error.reason == "unknown_key"
    assert error.key_id == keyring(KEY_A).current.key_id
    assert PLACE in error.message
    assert error.key_id in error.message
    assert other.current.key_id in error.message
    assert KEY_A not in error.message
    assert KEY_B not in error.message
    with pytest.raises(CannotUnseal):
        other.reseal(sealed, place=PLACE)


def test_old_key_values_open_and_are_resealed() -> None:
    """With the new key current and the old one older, values of the old key open, and reseal
    seals them with the new key; values of the new key need nothing."""
    old = keyring(KEY_A).seal(SECRET, place=PLACE)
    rotated = keyring(KEY_B, KEY_A)
    assert rotated.unseal(old, place=PLACE) == SECRET
    resealed = rotated.reseal(old, place=PLACE)
    assert resealed is not None
    assert resealed.startswith(f"enc:v1:{rotated.current.key_id}:")
    assert rotated.reseal(resealed, place=PLACE) is None
    assert keyring(KEY_B).unseal(resealed, place=PLACE) == SECRET


def test_plaintext_from_older_versions_reads_and_is_sealed() -> None:
    """A plaintext value (written before sealing) reads as it is, and reseal seals it."""
    keys = keyring(KEY_A)
    assert not is_sealed(SECRET)
    assert keys.unseal(SECRET, place=PLACE) == SECRET
    sealed = keys.reseal(SECRET, place=PLACE)
    assert sealed is not None
    assert is_sealed(sealed)
    assert keys.unseal(sealed, place=PLACE) == SECRET


def flip(sealed: str, index: int) -> str:
    char = "A" if sealed[index] != "A" else "B"
    return sealed[:index] + char + sealed[index + 1:]


def test_tampering_is_detected() -> None:
    """An altered, truncated or malformed value, or one moved to another place, raises
    CannotUnseal with reason damaged."""
    keys = keyring(KEY_A)
    sealed = keys.seal(SECRET, place=PLACE)
    prefix = f"enc:v1:{keys.current.key_id}:"
    for broken, place in [
        (flip(sealed, len(sealed) - 5), PLACE),           # the tag
        (flip(sealed, len(prefix) + 2), PLACE),           # the nonce
        (flip(sealed, len(prefix) + 20), PLACE),          # the ciphertext
        (sealed[:-4], PLACE),                             # truncated
        (prefix + "AAAA", PLACE),                         # too short for a nonce
        (prefix + "%%%%", PLACE),                         # not base64
        (sealed, "groups.visitor_token_secret:778"),      # copied to another group
    ]:
        with pytest.raises(CannotUnseal) as refused:
            keys.unseal(broken, place=place)
        assert refused.value.reason == "damaged"
        assert place in refused.value.message


def test_settle_runs_once_at_the_first_seal() -> None:
    """A keyring with ``settle`` calls it only when it first seals (not when a value fails to
    open), and seals with the key it returns."""
    calls: list[str] = []

    def settle() -> SealingKey:
        calls.append("settle")
        return SealingKey.derive(KEY_B, source="kept")

    keys = Keyring(SealingKey.derive(KEY_A, source="drawn"), settle=settle)
    with pytest.raises(CannotUnseal):
        keys.unseal(keyring(KEY_WRONG).seal(SECRET, place=PLACE), place=PLACE)
    assert calls == []
    first = keys.seal(SECRET, place=PLACE)
    keys.seal(SECRET, place=PLACE)
    assert calls == ["settle"]
    assert first.startswith(f"enc:v1:{key_id_of(KEY_B)}:")
    assert keys.is_current(first)
