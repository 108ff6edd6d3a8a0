"""An account's score from its summary (members' count, and a small account's members' scores, or
a spilled one's score sum, written in each member's save transaction) and its best few members
(inline, or from the ByScore index): exact under concurrency and redelivery, across the spill,
and a save reads the same few items for 1 member or 10,000."""

from __future__ import annotations

import dataclasses
import json
from concurrent.futures import ThreadPoolExecutor

import pytest
from test_scoring_storage import accepted

from leadscore.adapters.dynamodb import INLINE_MEMBERS, AccountItem, inline_scores, member_key, member_lead
from leadscore.core.accounts import aggregate
from leadscore.core.loader import load_text
from leadscore.service.scoring import account_score

TOP3 = """
accounts: {aggregate: mean_of_top, top: 3}
alerts:
  account: {threshold: 8, rearm_below: 2}
  committee: {kind: engaged_buyers, buyers: 3, buyer_score: 5}
rules:
  - {id: visit, when: {event: page_view}, points: 1}
  - {id: wp, when: {event: download}, points: 5}
  - {id: unsubscribed, when: {event: email_unsubscribe}, points: -3}
"""


def stored_score(engine, account: str, text: str) -> float:
    spec = load_text(text).spec.accounts
    return account_score(engine.repository.account(account, 3), spec)


def every_member_score(engine, account: str, text: str) -> float:
    members, _ = engine.repository.account_members(account)
    return aggregate(members.values(), load_text(text).spec.accounts)


@pytest.mark.parametrize("aggregate_kind", ["sum", "max", "mean_of_top"])
def test_fifty_members_saving_at_once_leave_the_summary_equal_to_their_scores(engine, aggregate_kind):
    text = TOP3.replace(
        "aggregate: mean_of_top, top: 3",
        f"aggregate: {aggregate_kind}" + (", top: 3" if aggregate_kind == "mean_of_top" else ""),
    )
    service = engine.service(text, max_attempts=50)
    events = []
    for i in range(50):  # different scores: some download, some visit, one unsubscribes after
        kind = "download" if i % 3 == 0 else "page_view"
        events.append(accepted(f"a{i}", email=f"buyer{i}@bigco.example", type_=kind))
    with ThreadPoolExecutor(max_workers=25) as pool:
        results = list(pool.map(lambda item: service.score([item]), events))
        results += list(pool.map(lambda item: service.score([item]), events[:20]))  # redelivered
    assert all(not r.failed_message_ids for r in results), [r.failures for r in results if r.failures]
    summary = AccountItem.get("bigco.example", "#summary", consistent_read=True)
    members, _ = engine.repository.account_members("bigco.example")
    assert int(summary.members) == len(members) == 50
    assert float(summary.total) == pytest.approx(sum(members.values()))
    assert stored_score(engine, "bigco.example", text) == pytest.approx(
        every_member_score(engine, "bigco.example", text)
    )


def test_leaving_an_account_takes_the_lead_out_of_its_count_and_sum(engine):
    service = engine.service(TOP3)
    service.score([accepted("x1", type_="download"), accepted("x2", email="bob@acme.example")])
    service.score([accepted("m", type_="identify", at="2026-11-20T11:00:00Z", profile={"company_id": "ACME-GROUP"})])
    old = engine.repository.account("acme.example", 3)
    new = engine.repository.account("id:acme-group", 3)
    assert (old.count, old.total, old.inline) == (1, 1.0, {"bob@acme.example": 1.0})  # bob stays
    assert (new.count, new.total, new.inline) == (1, 5.0, {"ann@acme.example": 5.0})  # ann moved with her 5 points


def test_an_unchanged_score_does_not_rewrite_the_member(engine):
    service = engine.service(TOP3)
    service.score([accepted("v1")])
    before = AccountItem.get("acme.example", "#summary", consistent_read=True).inline_version
    service.score(
        [accepted("i1", type_="identify", at="2026-11-20T11:00:00Z", profile={"job_title": "CTO"})]
    )  # no points
    assert AccountItem.get("acme.example", "#summary", consistent_read=True).inline_version == before
    # and in a spilled account (more members than a summary keeps inline), its member item stays
    for i in range(INLINE_MEMBERS + 1):
        service.score([accepted(f"s{i}", email=f"buyer{i}@acme.example")])
    before = AccountItem.get("acme.example", "member#ann@acme.example", consistent_read=True).updated_at
    service.score(
        [accepted("i2", type_="identify", at="2026-11-20T12:00:00Z", profile={"job_title": "CEO"})]
    )  # no points
    assert AccountItem.get("acme.example", "member#ann@acme.example", consistent_read=True).updated_at == before


def test_a_small_account_keeps_its_members_in_its_summary_until_one_too_many_spills_them(engine):
    service = engine.service(TOP3)
    emails = [f"buyer{i}@acme.example" for i in range(INLINE_MEMBERS + 1)]
    for i, email in enumerate(emails[:INLINE_MEMBERS]):
        service.score([accepted(f"j{i}", email=email, type_="download" if i % 2 else "page_view")])
    # up to INLINE_MEMBERS members: one item, the summary, holding every member's score
    items = list(AccountItem.query("acme.example", consistent_read=True))
    assert [item.sk for item in items] == ["#summary"]
    inline = inline_scores(items[0])
    assert inline == {email: (5.0 if i % 2 else 1.0) for i, email in enumerate(emails[:INLINE_MEMBERS])}
    before = engine.repository.account("acme.example", 3)
    assert (before.count, before.total) == (INLINE_MEMBERS, sum(inline.values()))
    assert stored_score(engine, "acme.example", TOP3) == pytest.approx(5.0)
    # one more: every member gets its item, the summary their sum and count, and nothing is lost
    service.score([accepted("j-last", email=emails[-1], type_="download")])
    items = list(AccountItem.query("acme.example", consistent_read=True))
    assert sorted(item.sk for item in items) == ["#summary", *sorted(f"member#{email}" for email in emails)]
    summary = next(item for item in items if item.sk == "#summary")
    assert summary.inline is None and int(summary.members) == len(emails)
    assert float(summary.total) == pytest.approx(sum(inline.values()) + 5.0)
    members, _ = engine.repository.account_members("acme.example")
    assert members == {**inline, emails[-1]: 5.0}
    # the spilled account reads and scores the same way: its best members from the ByScore index
    after = engine.repository.account("acme.example", 3)
    assert after.inline is None and (after.count, after.total) == (len(emails), float(summary.total))
    assert len(after.members) == 3 and set(after.members.values()) == {5.0}
    assert stored_score(engine, "acme.example", TOP3) == pytest.approx(every_member_score(engine, "acme.example", TOP3))
    # and its members' later moves and departures keep count and sum right
    service.score([accepted("m2", email=emails[0], type_="download")])  # 1 -> 6 points
    service.score([accepted("mv", email=emails[1], type_="identify", profile={"company_id": "ELSEWHERE"})])
    members, _ = engine.repository.account_members("acme.example")
    summary = AccountItem.get("acme.example", "#summary", consistent_read=True)
    assert int(summary.members) == len(members) == len(emails) - 1
    assert float(summary.total) == pytest.approx(sum(members.values()))


def test_a_lead_id_with_percent_signs_and_dots_is_a_member_like_any_other(engine):
    # a key of the summary's map is a document path segment: brackets (which no email has, but a
    # key must never be read as a list index) and the escape character are escaped, and read back
    for lead in ("o[0]%5B.x@acme.example", "a%25[b]]@x", "plain@acme.example"):
        assert member_lead(member_key(lead)) == lead and "[" not in member_key(lead)
    service = engine.service(TOP3)
    odd = "o%5b.x+tag@acme.example"
    service.score([accepted("b1", email=odd, type_="download"), accepted("b2", email="bob@acme.example")])
    view = engine.repository.account("acme.example", 3)
    assert view.inline == {odd: 5.0, "bob@acme.example": 1.0}
    service.score([accepted("b3", email=odd)])
    assert engine.repository.account("acme.example", 3).inline == {odd: 6.0, "bob@acme.example": 1.0}


def test_a_save_reads_the_same_few_items_for_one_member_or_ten_thousand(engine):
    service = engine.service(TOP3)
    # Given an account of 10,000 members (written directly: the summary as their saves leave it)
    client = service.repository._connection.client
    table = AccountItem.Meta.table_name
    requests = [
        {
            "PutRequest": {
                "Item": {
                    "account": {"S": "huge.example"},
                    "sk": {"S": f"member#m{i}@huge.example"},
                    "lead": {"S": f"m{i}@huge.example"},
                    "member_score": {"N": str(i % 7)},
                }
            }
        }
        for i in range(10_000)
    ]
    for start in range(0, len(requests), 25):
        client.batch_write_item(RequestItems={table: requests[start : start + 25]})
    total = sum(i % 7 for i in range(10_000))
    client.put_item(
        TableName=table,
        Item={
            "account": {"S": "huge.example"},
            "sk": {"S": "#summary"},
            "total": {"N": str(total)},
            "members": {"N": "10000"},
            "stage": {"S": "awareness"},
        },
    )
    read: list[tuple[str, int]] = []

    def count(http_response, parsed, model, **_):
        read.append((model.name, parsed.get("Count", 1 if "Item" in parsed else 0)))

    client.meta.events.register("after-call.dynamodb", count)
    for connection in {
        id(m._get_connection().connection.client): m._get_connection().connection.client for m in (AccountItem,)
    }.values():
        connection.meta.events.register("after-call.dynamodb", count)
    try:
        # When one more member visits, and one member of a 1-member account does
        service.score([accepted("big", email="new@huge.example")])
        big = list(read)
        read.clear()
        service.score([accepted("small", email="solo@tiny.example")])
        small = list(read)
    finally:
        client.meta.events.unregister("after-call.dynamodb", count)

    # Then both read the lead, the summary, at most 3 members (mean of the top 3) and at most 3
    # engaged buyers (enough to know the committee of 3 is complete), whatever the membership
    def items(calls):
        return sum(n for name, n in calls if name in ("GetItem", "Query") and n)

    assert [name for name, _ in big if name != "Query"] == [name for name, _ in small if name != "Query"]
    assert max(n for name, n in big if name == "Query") <= 3
    assert items(small) <= 5


def test_an_upgrade_and_a_rollback_keep_every_account_readable_by_both_releases(engine, monkeypatch, capsys):
    """AccountMembers=items writes new accounts as releases before inline members did (an item per
    member); `leadscore accounts spill` turns every small account into one, before a rollback."""
    from leadscore.adapters.dynamodb import LeadRepository
    from leadscore.cli.main import main

    service = engine.service(TOP3)
    service.score([accepted("s1", type_="download"), accepted("s2", email="bob@acme.example")])
    old_way = engine.service(TOP3)
    old_way.repository = LeadRepository(dataclasses.replace(engine.settings, account_members="items"))
    old_way.score([accepted("o1", email="carl@old.example", type_="download"), accepted("o2", email="dan@old.example")])
    old = list(AccountItem.query("old.example", consistent_read=True))
    summary = next(item for item in old if item.sk == "#summary")
    assert summary.inline is None and (int(summary.members), float(summary.total)) == (2, 6.0)
    assert sorted(item.sk for item in old) == ["#summary", "member#carl@old.example", "member#dan@old.example"]
    # a small account written before keeps working while new accounts are written the old way
    old_way.score([accepted("s3", type_="page_view")])
    assert engine.repository.account("acme.example", 3).inline == {"ann@acme.example": 6.0, "bob@acme.example": 1.0}
    before = {account: stored_score(engine, account, TOP3) for account in ("acme.example", "old.example")}
    # the spill, before a rollback: every small account becomes an item per member and their sum
    assert engine.repository.spill_all() == (1, 1)
    items = list(AccountItem.query("acme.example", consistent_read=True))
    summary = next(item for item in items if item.sk == "#summary")
    assert summary.inline is None and (int(summary.members), float(summary.total)) == (2, 7.0)
    assert sorted(item.sk for item in items) == ["#summary", "member#ann@acme.example", "member#bob@acme.example"]
    assert {account: stored_score(engine, account, TOP3) for account in before} == before
    # the command does the same (and finds nothing left to spill); saves go on, on the large path
    monkeypatch.setenv("ACCOUNTS_TABLE", engine.settings.accounts_table)
    if engine.settings.dynamodb_endpoint:
        monkeypatch.setenv("DYNAMODB_ENDPOINT", engine.settings.dynamodb_endpoint)
    assert main(["accounts", "spill"]) == 0
    assert json.loads(capsys.readouterr().out) == {"large_already": 2, "spilled": 0}
    service = engine.service(TOP3)
    service.score([accepted("s4", type_="download")])
    members, _ = engine.repository.account_members("acme.example")
    summary = AccountItem.get("acme.example", "#summary", consistent_read=True)
    assert members == {"ann@acme.example": 11.0, "bob@acme.example": 1.0} and float(summary.total) == 12.0


def test_a_new_lead_whose_first_event_names_its_company_joins_it_and_leaves_no_trace_in_its_domain(engine):
    service = engine.service(TOP3)
    assert not service.score([accepted("c1", type_="identify", profile={"company_id": "ACME-42"})]).failures
    assert engine.repository.load("ann@acme.example").state.account == "id:acme-42"
    assert engine.repository.account_members("id:acme-42")[0] == {"ann@acme.example": 0.0}
    # it never was a member of its email's domain: nothing to leave, no summary made for it
    assert list(AccountItem.query("acme.example", consistent_read=True)) == []
