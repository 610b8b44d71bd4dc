"""Encryption at rest: Fernet with `SECRET_KEY_FOR_KV_ENC`; a comma-separated list is a MultiFernet.

The first key encrypts, every key decrypts, so rotation is: prepend a new key, run `azt3knet keys rotate`,
then drop the old key. A missing or malformed key is a start-up error, never a silent default.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from azt3knet_pipeline.errors import DecryptionError, KeyConfigError


class SecretBox:
    """Encrypts and decrypts short secrets with a MultiFernet built from the configured keys."""

    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise KeyConfigError(
                "SECRET_KEY_FOR_KV_ENC is not set: generate one with "
                "`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`"
            )
        fernets = []
        for position, key in enumerate(keys, start=1):
            try:
                fernets.append(Fernet(key.encode("ascii")))
            except (ValueError, UnicodeEncodeError):
                raise KeyConfigError(
                    f"SECRET_KEY_FOR_KV_ENC key #{position} is not a valid Fernet key "
                    "(32 url-safe base64-encoded bytes)"
                ) from None
        self._multi = MultiFernet(fernets)
        self._primary = fernets[0]
        self.key_count = len(fernets)

    @classmethod
    def from_setting(cls, value: str | None) -> SecretBox:
        """Build from the raw setting: one key, or a comma-separated list (first encrypts)."""
        keys = [part.strip() for part in (value or "").split(",") if part.strip()]
        return cls(keys)

    def encrypt(self, plaintext: str) -> str:
        return self._multi.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, ciphertext: str) -> str:
        try:
            return self._multi.decrypt(ciphertext.encode("ascii")).decode("utf-8")
        except InvalidToken:
            raise DecryptionError(
                "ciphertext does not decrypt with any key in SECRET_KEY_FOR_KV_ENC (wrong or rotated-out key?)"
            ) from None

    def rotate(self, ciphertext: str) -> str:
        """Re-encrypt under the first key (a no-op in meaning, a new token on disk)."""
        try:
            return self._multi.rotate(ciphertext.encode("ascii")).decode("ascii")
        except InvalidToken:
            raise DecryptionError("ciphertext does not decrypt with any key in SECRET_KEY_FOR_KV_ENC") from None

    def encrypt_bytes(self, data: bytes) -> bytes:
        return self._multi.encrypt(data)

    def decrypt_bytes(self, token: bytes) -> bytes:
        try:
            return self._multi.decrypt(token)
        except InvalidToken:
            raise DecryptionError("bundle does not decrypt with any key in SECRET_KEY_FOR_KV_ENC") from None

    def rotate_bytes(self, token: bytes) -> bytes:
        """`rotate` for a bundle file's bytes."""
        try:
            return self._multi.rotate(token)
        except InvalidToken:
            raise DecryptionError("bundle does not decrypt with any key in SECRET_KEY_FOR_KV_ENC") from None

    def under_primary(self, token: bytes) -> bool:
        """Whether the first (encrypting) key alone opens `token`: False means an older key is still needed."""
        try:
            self._primary.decrypt(token)
        except InvalidToken:
            return False
        return True
