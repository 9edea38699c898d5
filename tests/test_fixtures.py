"""The fixtures are the real upstream files, unedited: an accidental edit fails here."""

from __future__ import annotations

import hashlib

import pytest

from tests.conftest import JHU_2021, NYT_2021, NYT_2023

EXPECTED = {
    NYT_2021: "a80fcfa5525ddb1ee7e136644e34bce60de1daed274a33e8b51516ae9e466fb1",
    NYT_2023: "0064948ccba85eb6dff58f1d7946951288734f1c5d8dafdd4f950835bf252224",
    JHU_2021: "feec7cfaea842c100ff2b4ed41c79abc29508da9c1ff2e33c53df7c21e8d4c11",
}


@pytest.mark.parametrize("path", EXPECTED, ids=lambda path: path.name)
def test_fixture_is_the_published_file(path):
    assert hashlib.sha256(path.read_bytes()).hexdigest() == EXPECTED[path]
