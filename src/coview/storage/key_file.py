"""Where the keys that seal stored secrets come from.

The server's secret key (``COVIEW_SECRET_KEY``) seals when it is given, and an old one
(``COVIEW_SECRET_KEY_OLD``) still opens what it sealed. Without a secret key, a random one is
kept in ``secret.key`` in the data directory (mode 0600), written when it first seals something
and read from there after: a key kept in the database it protects would protect nothing. That
file, when it is there, always opens too, so that moving from it to ``COVIEW_SECRET_KEY`` is a
rotation like any other.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
from pathlib import Path

from coview.errors import InvalidInput
from coview.storage.sealing import Keyring, SealingKey

log = logging.getLogger("coview.storage")

KEY_FILE_NAME = "secret.key"
MIN_KEY_LENGTH = 32


def read_key_file(path: Path) -> str | None:
    """The key kept in ``path``, or None if there is no such file."""
    try:
        key = path.read_text().strip()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise InvalidInput(f"cannot read the key file {path}: {exc.strerror}") from None
    if len(key) < MIN_KEY_LENGTH:
        raise InvalidInput(f"the key file {path} is damaged (it must hold one key of "
                           f"{MIN_KEY_LENGTH}+ characters); restore it from its backup")
    return key


def save_key_file(path: Path, key: str) -> str:
    """Keep ``key`` in ``path`` (mode 0600) unless a key is there already; return the key
    the file holds.

    Written aside and linked into place, so that of processes starting at once one writes
    it and the others read the whole of it.
    """
    found = read_key_file(path)
    if found is not None:
        return found
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    try:
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(key + "\n")
            file.flush()
            os.fsync(file.fileno())
        with contextlib.suppress(FileExistsError):  # another process was first: theirs
            os.link(draft, path)
            log.warning("made the key file %s, which seals stored secrets (back it up apart "
                        "from the database, or set COVIEW_SECRET_KEY)", path)
    except OSError as exc:
        raise InvalidInput(f"cannot write the key file {path}: {exc.strerror}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            draft.unlink()
    found = read_key_file(path)
    assert found is not None
    return found


def load_keyring(*, secret_key: str | None, old_secret_key: str | None,
                 data_dir: Path) -> Keyring:
    """The keys of a process: the secret key (else the data directory's key file, written
    when it first seals) seals; the old secret key and the key file open too."""
    path = data_dir / KEY_FILE_NAME
    source = f"key file {path}"
    older: list[SealingKey] = []
    if old_secret_key:
        older.append(SealingKey.derive(old_secret_key, source="COVIEW_SECRET_KEY_OLD"))
    file_key = read_key_file(path)
    if secret_key:
        if file_key is not None:
            older.append(SealingKey.derive(file_key, source=source))
        return Keyring(SealingKey.derive(secret_key, source="COVIEW_SECRET_KEY"), older)
    if file_key is not None:
        return Keyring(SealingKey.derive(file_key, source=source), older)
    new_key = secrets.token_urlsafe(32)
    drawn = SealingKey.derive(new_key, source=f"no COVIEW_SECRET_KEY, and no key file {path}")
    return Keyring(drawn, older,
                   settle=lambda: SealingKey.derive(save_key_file(path, new_key),
                                                    source=source))
