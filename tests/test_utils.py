"""atomic_path: a finished write replaces the target with the umask's mode; a failed one leaves it.
bad_value / check_option: the one wording of invalid-value messages."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from iiic.utils import atomic_path, bad_value, check_option, timed, write_text_atomic


def test_atomic_write_has_the_modes_of_an_ordinary_file(tmp_path: Path) -> None:
    ordinary = tmp_path / "ordinary.txt"
    ordinary.write_text("x")
    out = write_text_atomic(tmp_path / "out.txt", "y")
    assert out.read_text() == "y"
    assert out.stat().st_mode & 0o777 == ordinary.stat().st_mode & 0o777
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ordinary.txt", "out.txt"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "table.csv"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash mid-write")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["table.csv"]


def test_timed_records_the_seconds_of_its_block_also_when_it_raises() -> None:
    import time

    timings: dict[str, float] = {}
    with timed(timings, "sleep_s"):
        time.sleep(0.05)
    with pytest.raises(ZeroDivisionError), timed(timings, "failed_s"):
        1 / 0  # noqa: B018
    assert 0.05 <= timings["sleep_s"] < 5.0 and 0.0 <= timings["failed_s"] < 1.0


def test_bad_value_names_the_option_what_it_expects_and_what_it_received() -> None:
    assert bad_value("--stride-s", "> 0 s", -1.0) == "--stride-s: expected > 0 s; received -1.0"
    assert bad_value("x", "shape (20, n_times)", (3, 4)) == (
        "x: expected shape (20, n_times); received (3, 4)"
    )


def test_check_option_lists_the_allowed_values_and_suggests_the_closest() -> None:
    assert check_option("impl", "fft", ("fft", "conv")) == "fft"
    with pytest.raises(ValueError) as err:
        check_option("impl", "ffft", ("fft", "conv"))
    assert str(err.value) == "impl: expected 'fft' or 'conv'; received 'ffft'; did you mean 'fft'?"
    with pytest.raises(ValueError) as err:
        check_option("--dtype", "int8", ["float16", "float32", "float64"], " (numpy dtype)")
    assert str(err.value) == (
        "--dtype: expected 'float16', 'float32' or 'float64' (numpy dtype); received 'int8'"
    )
    with pytest.raises(ValueError, match=r"^power: expected 1.0 or 2.0; received 3$"):
        check_option("power", 3, (1.0, 2.0))


def test_store_float16_gives_numpys_bits_with_torch_loaded() -> None:
    """The torch cast rounds as numpy's (ties to even, subnormals, overflow to inf), into a
    strided float16 target as the caches write it (time-major)."""
    import numpy as np
    import torch  # noqa: F401  (loaded: the fast path)

    from iiic.utils import store_float16

    h = np.arange(0, 0x7C00, dtype=np.uint16).view(np.float16).astype(np.float32)  # every finite
    ties = ((h[:-1].astype(np.float64) + h[1:]) / 2).astype(np.float32)  # halfway: exact in f32
    x = np.concatenate([h, ties, np.nextafter(ties, 0), np.nextafter(ties, np.inf), [7e4, 1e-9]])
    x = np.concatenate([x, -x]).astype(np.float32)
    x = x[: len(x) // 20 * 20].reshape(20, -1)  # (20, n) channel-first
    out = np.zeros((x.shape[1], 20), dtype=np.float16)
    with np.errstate(over="ignore"):
        store_float16(out, x.T)
        want = x.T.astype(np.float16)
    assert np.array_equal(out.view(np.uint16), want.view(np.uint16))
