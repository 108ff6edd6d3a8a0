"""Visitor ids are issued and signed by the system; anything else links nothing."""

from __future__ import annotations

from leadscore.ingest.visitors import is_signed, issue, visitor_key

KEY = visitor_key("tracking-secret")


def test_an_issued_id_verifies_and_is_unique():
    first, second = issue(KEY), issue(KEY)
    assert first != second
    assert is_signed(first, [KEY]) and is_signed(second, [KEY])
    assert len(first) == 48 and first.startswith("v1.")


def test_unsigned_forged_or_foreign_ids_do_not_verify():
    genuine = issue(KEY)
    prefix, random_part, signature = genuine.split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    for value in [
        "cookie-1",  # an unsigned id a script made up
        f"{prefix}.{random_part}.{flipped}",  # a forged signature
        f"{prefix}.{'A' * 22}.{signature}",  # another visitor's random part with this signature
        f"v2.{random_part}.{signature}",
        genuine + ".x",
        "",
    ]:
        assert not is_signed(value, [KEY]), value
    assert not is_signed(genuine, [visitor_key("another deployment")])


def test_rotation_accepts_ids_signed_under_any_current_secret():
    old, new = visitor_key("old secret"), visitor_key("new secret")
    assert is_signed(issue(old), [new, old])
