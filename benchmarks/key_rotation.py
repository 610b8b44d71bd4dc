"""Key rotation cost: `keys rotate` (all or nothing) over `--rows` mailbox rows and `--bundles` bundles.

Seeds a store (a temporary SQLite file, or `--database-url`, e.g. an empty PostgreSQL database) under an old
key, then times a dry run (decrypt everything) and the real rotation (decrypt, re-encrypt in one transaction,
replace bundles) with NEW,OLD configured. Figures only, no asserts.
Usage: python benchmarks/key_rotation.py [--rows 10000] [--bundles 20] [--database-url URL]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from cryptography.fernet import Fernet

from azt3knet_pipeline.domain.models import PopulationSpec
from azt3knet_pipeline.services.credentials import BUNDLE_SUFFIX
from azt3knet_pipeline.services.keys import rotate_keys
from azt3knet_pipeline.store.crypto import SecretBox
from azt3knet_pipeline.store.repository import Store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--bundles", type=int, default=20)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        old = Fernet.generate_key().decode()
        old_box = SecretBox([old])
        store = Store.open(url)
        store.derivation_secret(old_box)
        key = f"bench-rotate-{int(time.time())}"
        store.register_population(key, PopulationSpec(count=1, seed=key, country="ES"))
        store.record_mailbox_intents(
            key, ((f"a{i}@{key}.test", f"agent-{i}", old_box.encrypt(f"pw-{i:08d}")) for i in range(args.rows))
        )
        exports = Path(tmp) / "exports"
        exports.mkdir()
        payload = b"x" * 120 * 50  # a 50-mailbox bundle's size, roughly
        for i in range(args.bundles):
            (exports / f"b{i}{BUNDLE_SUFFIX}").write_bytes(old_box.encrypt_bytes(payload))
        box = SecretBox([Fernet.generate_key().decode(), old])

        started = time.perf_counter()
        rotate_keys(store, box, exports, dry_run=True, actor="bench")
        dry = time.perf_counter() - started
        started = time.perf_counter()
        report = rotate_keys(store, box, exports, actor="bench")
        real = time.perf_counter() - started
        store.dispose()

    backend = url.split(":", 1)[0]
    total = sum(report.counts.values())
    print(f"backend {backend}: {report.counts} ({total} ciphertexts)")
    print(f"dry run   {dry:7.2f} s  ({total / dry:,.0f} ciphertexts/s verified)")
    print(f"rotation  {real:7.2f} s  ({total / real:,.0f} ciphertexts/s re-encrypted, one transaction)")


if __name__ == "__main__":
    main()
