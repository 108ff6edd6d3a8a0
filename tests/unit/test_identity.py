"""One identity normalisation for every door: how an email and an anonymous id become a lead key."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leadscore.core.accounts import account_key, email_domain
from leadscore.core.events import EventError, is_email, normalise_email, parse_email, parse_event
from leadscore.core.spec import AccountsSpec

LONG_DOMAIN = ".".join(["a" * 63, "b" * 63, "c" * 63]) + ".com"  # 195 characters


@pytest.mark.parametrize(
    ("written", "lead"),
    [
        ("Ann@Acme.COM", "ann@acme.com"),
        ("  ann@acme.com\t", "ann@acme.com"),
        ("Ann@Exämple.COM", "ann@xn--exmple-cua.com"),  # the domain in its ASCII (IDNA) form
        ("ann@xn--exmple-cua.com", "ann@xn--exmple-cua.com"),  # already ASCII: unchanged
        ("ａｎｎ＠ａｃｍｅ．ｃｏｍ", "ann@acme.com"),  # fullwidth letters, @ and dot (NFKC)
        ("\u212aate@acme.com", "kate@acme.com"),  # KELVIN SIGN is a K
        ("Straße@acme.com", "strasse@acme.com"),  # case folding: ß -> ss
        ("an\u200bn@ac\u200dme.com", "ann@acme.com"),  # zero-width characters removed
        ("\ufeffann\u00ad@acme.com\u2060", "ann@acme.com"),  # BOM, soft hyphen, word joiner
        ("björn@acme.com", "björn@acme.com"),  # non-ASCII letters in the local part (RFC 6532)
        ("o'brien+news@acme.co.uk", "o'brien+news@acme.co.uk"),
        ("a!#$%&'*+/=?^_`{|}~.-z@acme.com", "a!#$%&'*+/=?^_`{|}~.-z@acme.com"),
    ],
)
def test_an_email_is_normalised_the_same_way_at_every_door(written, lead):
    assert parse_email(written) == lead
    assert normalise_email(written) == lead
    assert is_email(written)
    assert parse_event({"id": "e", "type": "download", "email": written, "timestamp": 1790848800}).lead == lead


@pytest.mark.parametrize(
    ("written", "why"),
    [
        ("not-an-email", "no @"),
        ("ann@acme", "a domain without a dot"),
        ("ann@acme.com.", "an empty last label"),
        ("ann@a..com", "an empty label"),
        ("ann@-acme.com", "a label starting with a hyphen"),
        ("ann@ac_me.com", "a character a host name cannot have"),
        ("ann@[1.2.3.4]", "an IP literal"),
        ("ann@[IPv6:2001:db8::1]", "an IPv6 literal"),
        ("ann@1.2.3.4", "a bare IPv4 address"),
        ("ann@192.168.0.001", "a bare IP address with leading zeros"),
        ("ann\x00@acme.com", "NUL"),
        ("ann\x07@acme.com", "a control character"),
        ("ann@acme.com\x00", "NUL in the domain"),
        ("an n@acme.com", "whitespace inside"),
        ("ann@ac me.com", "whitespace inside the domain"),
        ("an\u00a0n@acme.com", "a no-break space inside (NFKC makes it a space)"),
        ("anon:x@y.z", "a ':' would put the email into the anonymous namespace"),
        ('"ann smith"@acme.com', "quoted local parts are not accepted"),
        ("ann(comment)@acme.com", "comments"),
        ("a@b@acme.com", "two @"),
        ("@acme.com", "an empty local part"),
        ("ann@", "an empty domain"),
        ("an\u202en@acme.com", "a bidi override"),
        ("\u200b@acme.com", "only invisible characters before the @"),
        ("a" * 65 + "@acme.com", "a local part over 64 characters"),
        ("ß" * 33 + "@acme.com", "a local part that folds to 66 characters"),
        (5, "not text"),
        (None, "not text"),
    ],
)
def test_what_is_not_an_email_is_refused(written, why):
    assert parse_email(written) is None, why
    if isinstance(written, str):
        assert not is_email(written), why


def test_the_254_character_bound_applies_after_normalising():
    local = "a" * 58
    exact = f"{local}@{LONG_DOMAIN}"
    assert len(exact) == 254
    assert parse_email(exact) == exact
    assert parse_email("a" + exact) is None  # 255
    folds = "ß" + "a" * 57 + "@" + LONG_DOMAIN  # 254 as written, 255 once ß becomes ss
    assert len(folds) == 254 and parse_email(folds) is None
    invisible = "\u200b" * 10 + exact  # longer as written, 254 once the invisible characters go
    assert parse_email(invisible) == exact


def test_the_local_part_bound_applies_after_folding():
    assert parse_email("ß" * 32 + "@acme.com") == "ss" * 32 + "@acme.com"  # 64: fits
    assert parse_email("ß" * 32 + "a@acme.com") is None  # 65 once folded


def test_normalising_a_normalised_address_changes_nothing():
    # the door normalises, the queue carries the result, the consumer normalises again: same lead
    for written in ["Ann@Exämple.COM", "ǰ@acme.com", "ΣΑΣ@acme.com", "ﬀ@acme.com", "İ@acme.com"]:
        first = parse_email(written)
        assert first is not None, written
        assert parse_email(first) == first, written


@given(st.text(max_size=40), st.sampled_from(["acme.com", "exämple.de", "ÄCME.com", "xn--exmple-cua.com"]))
def test_normalisation_is_a_fixed_point_for_any_accepted_address(local, domain):
    first = parse_email(f"{local}@{domain}")
    if first is not None:
        assert parse_email(first) == first
        assert ":" not in first and len(first) <= 254


def test_account_domains_still_come_from_the_normalised_email():
    spec = AccountsSpec()
    lead = parse_email("Ingrid@Nordkräft.NO")
    assert lead == "ingrid@xn--nordkrft-5za.no"
    assert email_domain(lead) == "xn--nordkrft-5za.no"
    assert account_key({"email": lead}, spec) == "xn--nordkrft-5za.no"
    assert account_key({"email": parse_email("ANN@GMAIL.COM")}, spec) is None  # free mail


@pytest.mark.parametrize(
    "visitor",
    ["a-1", "x" * 200, "ajs-0f3c!~:/"],
)
def test_anonymous_ids_are_printable_ascii(visitor):
    event = parse_event({"id": "e", "type": "page_view", "anonymous_id": visitor, "timestamp": 1790848800})
    assert event.lead == f"anon:{visitor}"


@pytest.mark.parametrize(
    "visitor",
    ["a b", "x" * 201, "visitor\x00", "bjørn", "a\tb", "\u200bvisitor", 5, ["a"]],
)
def test_other_anonymous_ids_are_refused_by_name(visitor):
    with pytest.raises(EventError, match="^anonymous_id: "):
        parse_event({"id": "e", "type": "page_view", "anonymous_id": visitor, "timestamp": 1790848800})


def test_a_linking_anonymous_id_follows_the_same_rule():
    good = {"id": "e", "type": "download", "email": "ann@acme.com", "timestamp": 1790848800}
    assert parse_event({**good, "properties": {"anonymous_id": "a-1"}}).properties == {"anonymous_id": "a-1"}
    with pytest.raises(EventError, match=r"^properties\.anonymous_id: "):
        parse_event({**good, "properties": {"anonymous_id": "a 1"}})
    with pytest.raises(EventError, match=r"^profile\.anonymous_id: "):
        parse_event({**good, "profile": {"anonymous_id": "x" * 300}})


def test_the_profile_cannot_change_whose_lead_it_is():
    good = {"id": "e", "type": "identify", "email": "ann@acme.com", "timestamp": 1790848800}
    assert parse_event({**good, "profile": {"email": "ANN@acme.com"}}).profile == {"email": "ann@acme.com"}
    with pytest.raises(EventError, match=r"^profile\.email: "):
        parse_event({**good, "profile": {"email": "boss@rival.example"}})
