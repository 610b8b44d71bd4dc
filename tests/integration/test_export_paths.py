"""`export-credentials --out` with hostile paths (issue 15.3), through the real CLI: never through a symlink,
never over a FIFO, device node or folder, never over an existing file without --force, never into a folder
that does not exist; exit 2 with one line and the target unchanged. With --force a regular file is replaced
atomically (a new inode), mode 0600."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from pathlib import Path

import helpers_populations as populations
import pytest
from helpers_sandbox import assert_cli_error, azt3knet, stored_passwords

import azt3knet_pipeline.private_files as private_files
from azt3knet_pipeline.clients.factory import secret_box
from azt3knet_pipeline.domain.models import PopulationSpec
from azt3knet_pipeline.errors import UnsafePathError
from azt3knet_pipeline.private_files import write_private
from azt3knet_pipeline.sandbox.run import Sandbox
from azt3knet_pipeline.services.credentials import decrypt_bundle
from azt3knet_pipeline.settings import get_settings

SPEC = PopulationSpec(count=3, seed=77, country="ES")
KEY = "seed-77"
ORIGINAL = b"precious data that must survive\n"


def snapshot(path: Path) -> tuple[int, int, int, bytes | None]:
    """(type+mode, inode, size, content if a regular file): what 'unchanged' means for any kind of target."""
    info = path.lstat()
    content = path.read_bytes() if stat.S_ISREG(info.st_mode) else None
    return info.st_mode, info.st_ino, info.st_size, content


def make_symlink(tmp: Path) -> tuple[Path, list[Path]]:
    victim = tmp / "victim.txt"
    victim.write_bytes(ORIGINAL)
    link = tmp / "link.fernet"
    link.symlink_to(victim)
    return link, [link, victim]


def make_dangling_symlink(tmp: Path) -> tuple[Path, list[Path]]:
    link = tmp / "dangling.fernet"
    link.symlink_to(tmp / "would-be-created.txt")
    return link, [link]


def make_fifo(tmp: Path) -> tuple[Path, list[Path]]:
    fifo = tmp / "pipe.fernet"
    os.mkfifo(fifo)
    return fifo, [fifo]


def make_device(tmp: Path) -> tuple[Path, list[Path]]:
    node = tmp / "null-device"
    try:  # a real character device (same numbers as /dev/null) in our own folder, when allowed (root)
        os.mknod(node, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except PermissionError:
        return Path("/dev/null"), [Path("/dev/null")]
    return node, [node]


def make_directory(tmp: Path) -> tuple[Path, list[Path]]:
    folder = tmp / "a-folder"
    folder.mkdir()
    (folder / "inside.txt").write_bytes(ORIGINAL)
    return folder, [folder, folder / "inside.txt"]


def make_existing_file(tmp: Path) -> tuple[Path, list[Path]]:
    existing = tmp / "existing.fernet"
    existing.write_bytes(ORIGINAL)
    return existing, [existing]


CASES: dict[str, tuple[Callable[[Path], tuple[Path, list[Path]]], str]] = {
    "symlink": (make_symlink, "symbolic link"),
    "dangling-symlink": (make_dangling_symlink, "symbolic link"),
    "fifo": (make_fifo, "FIFO"),
    "device-node": (make_device, "device"),
    "directory": (make_directory, "is a folder"),
    "existing-file": (make_existing_file, "--force"),
}


@pytest.fixture
def registered(sandbox: Sandbox) -> dict[str, str]:
    outcome = populations.populate(SPEC, KEY, create_mailboxes=True)
    assert outcome.success, outcome.error
    return stored_passwords(KEY)


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_targets_are_refused_and_left_unchanged(registered: dict[str, str], tmp_path: Path, case: str) -> None:
    make, fragment = CASES[case]
    folder = tmp_path / "out"
    folder.mkdir()
    target, watched = make(folder)
    before = {path: snapshot(path) for path in watched}
    listing = sorted(os.listdir(folder))

    # Plaintext: the worst case (the issue saw a symlink's target overwritten with plaintext credentials).
    result = azt3knet("export-credentials", KEY, "--out", str(target), "--plaintext")

    assert_cli_error(result, 2, fragment)
    assert {path: snapshot(path) for path in watched} == before
    assert sorted(os.listdir(folder)) == listing  # no temp file left behind, nothing created
    assert not (folder / "would-be-created.txt").exists()
    assert not any(password in result.stderr for password in registered.values())


@pytest.mark.parametrize(
    ("out", "fragment"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("/proc/self/status", "refusing to write under"),
        ("/proc/azt3knet-export.json", "refusing to write under"),
        ("/sys/kernel/azt3knet.json", "refusing to write under"),
        ("{tmp}/missing-folder/out.fernet", "does not exist"),
    ],
    ids=["empty", "blank", "proc-file", "proc-new", "sys", "missing-parent"],
)
def test_bad_paths_are_one_line_errors(registered: dict[str, str], tmp_path: Path, out: str, fragment: str) -> None:
    result = azt3knet("export-credentials", KEY, "--out", out.format(tmp=tmp_path), "--plaintext")
    assert_cli_error(result, 2, fragment)
    assert not (tmp_path / "missing-folder").exists()  # never created silently


def test_force_replaces_a_regular_file_atomically_with_mode_0600(registered: dict[str, str], tmp_path: Path) -> None:
    tmp_path = tmp_path / "out"
    tmp_path.mkdir()
    target = tmp_path / "creds.json"
    target.write_bytes(ORIGINAL)
    target.chmod(0o644)
    old_inode = target.stat().st_ino

    result = azt3knet("export-credentials", KEY, "--out", str(target), "--plaintext", "--force")
    assert result.returncode == 0, result.stderr
    info = target.lstat()
    assert stat.S_ISREG(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o600
    assert info.st_ino != old_inode  # renamed into place, never rewritten in place
    exported = {entry["address"]: entry["password"] for entry in json.loads(target.read_text())["mailboxes"]}
    assert exported == registered
    assert sorted(os.listdir(tmp_path)) == ["creds.json"]

    # --force does not extend to links or special files.
    link = tmp_path / "link.json"
    link.symlink_to(target)
    assert_cli_error(azt3knet("export-credentials", KEY, "--out", str(link), "--force"), 2, "symbolic link")
    assert link.is_symlink() and json.loads(target.read_text())["population_key"] == KEY

    # A new file in an existing folder needs no --force; encrypted, it decrypts to the same credentials.
    fresh = tmp_path / "fresh.fernet"
    assert azt3knet("export-credentials", KEY, "--out", str(fresh)).returncode == 0
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o600
    bundle = decrypt_bundle(secret_box(get_settings()), fresh.read_bytes())
    assert {e["address"]: e["password"] for e in bundle["mailboxes"]} == registered


def test_a_file_that_appears_while_writing_is_not_overwritten(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The no-overwrite path is atomic (link(2)), not only checked beforehand: a file created between the
    check and the write survives, and no temp file is left."""

    target = tmp_path / "raced.json"
    real_write_temp = private_files._write_temp

    def write_then_race(folder: Path, name: str, data: bytes) -> Path:
        tmp = real_write_temp(folder, name, data)
        target.write_bytes(ORIGINAL)  # another process wins the race
        return tmp

    monkeypatch.setattr(private_files, "_write_temp", write_then_race)
    with pytest.raises(UnsafePathError, match="appeared while writing"):
        write_private(target, b"secret")
    assert target.read_bytes() == ORIGINAL
    assert sorted(os.listdir(tmp_path)) == ["raced.json"]
