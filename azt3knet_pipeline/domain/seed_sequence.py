"""numpy's `SeedSequence(entropy).generate_state(4, np.uint64)` for many 128-bit seeds at once: what
`np.random.PCG64(entropy)` seeds its state with.

Every block of every field gets its own generator (draws.py), and numpy hashes each seed one at a time in
Python-level loops: ~15 µs a generator, most of a block's cost. This is the same hash (numpy's
`bit_generator.pyx`: `mix_entropy`, then `generate_state`; default pool of 4 words, no spawn key) on uint32
arrays, a seed a row, so a chunk's blocks are hashed together. tests/unit/domain/test_seed_sequence.py checks it
against numpy. Pure: no I/O here.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

_INIT_A = 0x43B0D7E5
_MULT_A = 0x931E8875
_INIT_B = 0x8B51F9DD
_MULT_B = 0x58F38DED
_MIX_MULT_L = 0xCA01F9DD
_MIX_MULT_R = 0x4973F715
_XSHIFT = 16
_POOL = 4
_MASK = 0xFFFFFFFF


def _constants(init: int, mult: int, count: int) -> tuple[np.ndarray, np.ndarray]:
    """The multiplier sequence of `count` hash calls: what each xors its value with and multiplies it by (the
    multiplier is updated between the two)."""
    xors, mults = [], []
    for _ in range(count):
        xors.append(init)
        init = init * mult & _MASK
        mults.append(init)
    return np.array(xors, dtype=np.uint32), np.array(mults, dtype=np.uint32)


# mix_entropy hashes 4 entropy words, then each pool word into the 3 others: 4 + 4 * 3 calls of hashmix.
_A_XOR, _A_MULT = _constants(_INIT_A, _MULT_A, _POOL + _POOL * (_POOL - 1))
# generate_state(4, uint64) hashes 8 uint32 words, cycling over the pool.
_B_XOR, _B_MULT = _constants(_INIT_B, _MULT_B, 2 * _POOL)


def _hashmix(values: np.ndarray, xor: np.ndarray, mult: np.ndarray) -> np.ndarray:
    values = values ^ xor
    values *= mult
    values ^= values >> _XSHIFT
    return values


def _mix(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    result = x * np.uint32(_MIX_MULT_L) - y * np.uint32(_MIX_MULT_R)
    result ^= result >> _XSHIFT
    return result


def pcg64_seed_words(entropies: Sequence[int]) -> np.ndarray:
    """`SeedSequence(e).generate_state(4, np.uint64)` for each 128-bit entropy `e` (0 <= e < 2**128), a row each:
    shape (len(entropies), 4), uint64, rows C-contiguous."""
    if any(not 0 <= e < 1 << 128 for e in entropies):
        raise ValueError("entropies must be non-negative 128-bit integers")
    # Little-endian 32-bit words, as numpy's _coerce_to_uint32_array splits an int; leading zero words mix
    # exactly like the zeros that pad a short entropy to the pool.
    data = b"".join(e.to_bytes(16, "little") for e in entropies)
    pool = np.frombuffer(data, dtype="<u4").astype(np.uint32).reshape(len(entropies), _POOL)
    pool = _hashmix(pool, _A_XOR[:_POOL], _A_MULT[:_POOL])
    at = _POOL
    for source in range(_POOL):
        others = [i for i in range(_POOL) if i != source]
        hashed = _hashmix(pool[:, source : source + 1], _A_XOR[at : at + 3], _A_MULT[at : at + 3])
        pool[:, others] = _mix(pool[:, others], hashed)
        at += 3
    state = _hashmix(np.tile(pool, 2), _B_XOR, _B_MULT)
    return np.ascontiguousarray(state.astype("<u4").view("<u8").astype(np.uint64))
