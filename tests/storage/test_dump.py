"""`python -m storage dump`: properties and records of one SSTable, errors as exit status 2."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

from storage.__main__ import main
from storage.dump import dump_table
from storage.options import Options
from storage.sstable import KIND_DELETE, KIND_PUT, TableBuilder

ROOT = Path(__file__).resolve().parents[2]

ENTRIES = [
    (b"alpha", 3, KIND_PUT, b"one\x00two"),
    (b"alpha", 2, KIND_DELETE, b""),
    (b"beta", 1, KIND_PUT, b"\xff"),
]


@pytest.fixture
def table_path(tmp_path: Path) -> Path:
    path = tmp_path / "000042.sst"
    builder = TableBuilder(str(path), Options())
    for entry in ENTRIES:
        builder.add(*entry)
    builder.finish()
    return path


def test_dump_prints_properties_and_every_record(table_path: Path) -> None:
    out = io.StringIO()
    assert dump_table(str(table_path), out) == 3
    text = out.getvalue()
    for line in (
        "entries: 3",
        "tombstones: 1",
        "min_key: b'alpha'",
        "max_key: b'beta'",
        f"file_size: {table_path.stat().st_size}",
        "b'alpha' seq=3 PUT b'one\\x00two'",
        "b'alpha' seq=2 DELETE b''",
        "b'beta' seq=1 PUT b'\\xff'",
        "(3 records)",
    ):
        assert line in text.splitlines(), line
    assert text.index("seq=3") < text.index("seq=2") < text.index("seq=1")


@pytest.mark.parametrize(
    ("args", "present", "absent"),
    [
        (["--hex"], ["616c706861 seq=3 PUT 6f6e650074776f", "min_key: 616c706861"], ["b'alpha'"]),
        (["--props"], ["entries: 3"], ["records:", "seq=3"]),
        (["--blocks"], ["data blocks:", "#0 offset=12"], []),
    ],
)
def test_dump_options(
    table_path: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    present: list[str],
    absent: list[str],
) -> None:
    assert main(["dump", str(table_path), *args]) == 0
    text = capsys.readouterr().out
    for fragment in present:
        assert fragment in text
    for fragment in absent:
        assert fragment not in text


def test_dump_reports_corruption_with_exit_status_2(
    table_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = bytearray(table_path.read_bytes())
    data[14] ^= 0xFF  # inside the only data block
    table_path.write_bytes(bytes(data))
    assert main(["dump", str(table_path)]) == 2
    captured = capsys.readouterr()
    assert "checksum mismatch" in captured.err
    assert str(table_path) in captured.err


def test_dump_of_missing_file_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["dump", str(tmp_path / "nope.sst")]) == 2
    assert "error:" in capsys.readouterr().err


def test_unknown_subcommand_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["frobnicate"])
    assert info.value.code == 2


def test_python_dash_m_storage_runs(table_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "storage", "dump", str(table_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "(3 records)" in result.stdout
