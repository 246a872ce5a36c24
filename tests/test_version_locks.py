"""The version locks (locks/*.txt) against the committed results: every provenance record under results/
names the versions it ran with, and one lock must pin exactly those, so that a user can install the
environment behind any committed number with one command (README, "Exact versions")."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from benchmarks.provenance import RECORDED_DISTRIBUTIONS

REPO = Path(__file__).resolve().parents[1]
LOCKS = sorted((REPO / "locks").glob("*.txt"))
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s;#]+)\s*$")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_lock(path: Path) -> dict[str, str]:
    pins = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = PIN.match(line)
        assert m, f"{path.name}:{number}: expected 'name==version', got {line!r}"
        pins[canonical(m.group(1))] = m.group(2)
    return pins


def base_version(v: str) -> str:
    return v.split("+", 1)[0]  # the build tag (+cu130) is the wheel's, not a separate release


def recorded_versions() -> list[tuple[Path, dict[str, str]]]:
    out = []
    for path in sorted((REPO / "results").rglob("*.json")):
        try:
            versions = json.loads(path.read_text()).get("versions")
        except (ValueError, AttributeError):
            continue
        if isinstance(versions, dict) and "torch" in versions:
            out.append((path, {canonical(k): base_version(v) for k, v in versions.items() if k != "python"}))
    return out


def test_each_lock_pins_every_recorded_distribution():
    assert LOCKS, "no lock files in locks/"
    for lock in LOCKS:
        pins = read_lock(lock)
        missing = [d for d in RECORDED_DISTRIBUTIONS if canonical(d) not in pins]
        assert not missing, f"{lock.name} does not pin {missing}"
        assert lock.stem == f"torch-{pins['torch']}", f"{lock.name}: named after another torch than {pins['torch']}"


def test_every_committed_record_has_a_lock_with_its_exact_versions():
    locks = {lock.name: read_lock(lock) for lock in LOCKS}
    records = recorded_versions()
    assert len(records) > 20  # the committed results carry provenance
    unmatched = []
    for path, versions in records:
        recorded = {k: v for k, v in versions.items() if v != "not installed"}
        if not any(all(pins.get(k) == v for k, v in recorded.items()) for pins in locks.values()):
            unmatched.append(f"{path.relative_to(REPO)}: {recorded}")
    assert not unmatched, "records whose versions no lock pins:\n" + "\n".join(unmatched[:10])


@pytest.mark.parametrize("text, problem", [("torch>=2.2\n", "expected 'name==version'")])
def test_a_loose_requirement_in_a_lock_is_an_error(tmp_path, text, problem):
    lock = tmp_path / "torch-9.txt"
    lock.write_text(text)
    with pytest.raises(AssertionError, match=problem):
        read_lock(lock)
