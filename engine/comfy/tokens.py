"""Server tokens, kept in the platform's keyring (the `keyring` package) when it is there.

Never in the plain settings file: without a keyring a token lives only in this process's
memory, and the Servers page says so.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

SERVICE = "overpaint-comfyui"
_memory: dict[str, str] = {}


def _keyring():  # the keyring module, or None where it is missing or has no backend
    try:
        # optional, and slow to import (its backends): only when a token is asked for
        import keyring
        from keyring.backends.fail import Keyring as FailKeyring
    except ImportError:
        return None
    if isinstance(keyring.get_keyring(), FailKeyring):
        return None
    return keyring


def keyring_available() -> bool:
    return _keyring() is not None


def get_token(url: str) -> str:
    if url in _memory:
        return _memory[url]
    store = _keyring()
    if store is None:
        return ""
    try:
        token = store.get_password(SERVICE, url) or ""
    except Exception:  # a locked or broken keyring must not stop generation
        log.warning("could not read the token for %s from the keyring", url, exc_info=True)
        return ""
    _memory[url] = token
    return token


def set_token(url: str, token: str) -> bool:
    """Remember `token` for `url`; True when the keyring keeps it beyond this session."""
    _memory[url] = token
    store = _keyring()
    if store is None:
        return False
    try:
        if token:
            store.set_password(SERVICE, url, token)
        else:
            try:
                store.delete_password(SERVICE, url)
            except Exception:
                pass  # nothing was stored
        return True
    except Exception:
        log.warning("could not store the token for %s in the keyring", url, exc_info=True)
        return False
