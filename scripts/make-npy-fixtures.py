"""Writes the small .npy files in tests/fixtures/npy/ that tests/io/npy.test.ts reads.

Run from the repository root: python3 scripts/make-npy-fixtures.py
The values follow simple formulas that the test recomputes.
"""

from pathlib import Path

import numpy as np

OUT = Path("tests/fixtures/npy")

# Signed types get base * 7 - 9 (negatives included), unsigned ones base * 7 + 1,
# floats base * 0.75 - 1.5 (exact in float16 too), all with shape (2, 3).
BASE = np.arange(6).reshape(2, 3)
PLAIN = {
    "float32": BASE * 0.75 - 1.5,
    "float16": BASE * 0.75 - 1.5,
    "float64": BASE * 0.75 - 1.5,
    "int8": BASE * 7 - 9,
    "int16": BASE * 7 - 9,
    "int32": BASE * 7 - 9,
    "int64": BASE * 7 - 9,
    "uint8": BASE * 7 + 1,
    "uint16": BASE * 7 + 1,
    "uint32": BASE * 7 + 1,
    "uint64": BASE * 7 + 1,
}


def save(name, array, version=None):
    path = OUT / f"{name}.npy"
    if version is None:
        np.save(path, array)
    else:
        with open(path, "wb") as f:
            np.lib.format.write_array(f, array, version=version)


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for dtype, values in PLAIN.items():
        save(dtype, values.astype(dtype))
    save("bool", np.array([True, False, True, True]))
    # Values only 64-bit integers hold exactly.
    save("int64-extremes", np.array([-(2**63), 2**63 - 1, 2**53 + 1], dtype=np.int64))
    save("uint64-extremes", np.array([2**64 - 1, 0, 2**53 + 1], dtype=np.uint64))
    save("scalar", np.array(3.5, dtype=np.float32))
    save("empty", np.zeros((0, 3), dtype=np.float32))
    save("version2", (BASE * 0.75 - 1.5).astype(np.float32), version=(2, 0))
    save("version3", (BASE * 0.75 - 1.5).astype(np.float32), version=(3, 0))
    save("fortran", np.asfortranarray((BASE * 0.75 - 1.5).astype(np.float32)))
    save("big-endian", (BASE * 0.75 - 1.5).astype(">f4"))


if __name__ == "__main__":
    main()
