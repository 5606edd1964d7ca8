"""Where sealing keys come from: the secret key, an old one, and the data directory's file."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from coview.errors import InvalidInput
from coview.storage.key_file import KEY_FILE_NAME, load_keyring
from coview.storage.sealing import SealingKey

KEY_A = "key-a-" + "a" * 40
KEY_B = "key-b-" + "b" * 40


def key_id(secret: str) -> str:
    return SealingKey.derive(secret, source="").key_id


def test_without_a_secret_key_a_private_file_is_made_at_the_first_seal(
        tmp_path: Path) -> None:
    """Without a secret key, nothing is written until something is sealed; then secret.key
    (mode 0600) in the data directory holds the key, and later loads seal with it."""
    data = tmp_path / "data"
    first = load_keyring(secret_key=None, old_secret_key=None, data_dir=data)
    assert not data.exists()
    sealed = first.seal("a secret", place="here")
    path = data / KEY_FILE_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert first.current.key_id == key_id(path.read_text().strip())
    assert sealed.startswith(f"enc:v1:{first.current.key_id}:")
    again = load_keyring(secret_key=None, old_secret_key=None, data_dir=data)
    assert again.current.key_id == first.current.key_id
    assert again.unseal(sealed, place="here") == "a secret"
    assert [p.name for p in data.iterdir()] == [KEY_FILE_NAME]


def test_a_key_file_written_meanwhile_is_the_one_used(tmp_path: Path) -> None:
    """Of two processes starting at once without a key, the second to seal uses the key file
    the first wrote."""
    first = load_keyring(secret_key=None, old_secret_key=None, data_dir=tmp_path)
    second = load_keyring(secret_key=None, old_secret_key=None, data_dir=tmp_path)
    sealed = first.seal("a secret", place="here")
    assert second.unseal(second.seal("another", place="there"), place="there") == "another"
    assert second.current.key_id == first.current.key_id
    assert second.unseal(sealed, place="here") == "a secret"


def test_the_secret_key_seals_and_the_file_still_opens(tmp_path: Path) -> None:
    """With a secret key no file is made; a file already there opens what it sealed, and an
    old secret key opens too."""
    assert load_keyring(secret_key=KEY_A, old_secret_key=None,
                        data_dir=tmp_path).older == ()
    assert not (tmp_path / KEY_FILE_NAME).exists()
    file_key = "file-key-" + "f" * 40
    (tmp_path / KEY_FILE_NAME).write_text(file_key + "\n")
    keys = load_keyring(secret_key=KEY_A, old_secret_key=KEY_B, data_dir=tmp_path)
    assert keys.current.key_id == key_id(KEY_A)
    assert [k.key_id for k in keys.older] == [key_id(KEY_B), key_id(file_key)]
    assert "COVIEW_SECRET_KEY_OLD" in keys.describe()


def test_a_damaged_key_file_is_a_clear_mistake(tmp_path: Path) -> None:
    """A key file that holds no whole key is refused with a sentence, not replaced."""
    path = tmp_path / KEY_FILE_NAME
    path.write_text("short\n")
    with pytest.raises(InvalidInput, match="is damaged"):
        load_keyring(secret_key=None, old_secret_key=None, data_dir=tmp_path)
    assert path.read_text() == "short\n"
