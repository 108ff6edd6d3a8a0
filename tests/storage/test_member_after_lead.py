"""A small account's member whose score moves is written after its lead's save, not in one
transaction with it (which bills both twice): these tests kill the save between the two writes
and check that nothing is lost. The redelivery writes the member's score (a tick's too, which
then finds its work done); so does a later save of the lead, even when the account spilled into
member items in between or the lead leaves it; an older version's late write never replaces a
newer score; an erasure racing a late write leaves no trace; a rescore visit, which nothing
delivers again, writes the member in the lead's transaction; and what releases before wrote (a
summary without versions, a member missing from it, a member item without `member_score`) is
brought right by the next save."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import pytest
from test_account_aggregate_storage import TOP3, every_member_score, stored_score
from test_scoring_storage import accepted

from leadscore.adapters.dynamodb import (
    INLINE_MEMBERS,
    AccountItem,
    LeadItem,
    LeadRepository,
    RetryableStorageError,
    VersionConflict,
    member_key,
)
from leadscore.service.replaying import model_change_event
from leadscore.service.scoring import AcceptedEvent, schedule_tick

ACCOUNT = "acme.example"
ANN = "ann@acme.example"
BOB = "bob@acme.example"
START = datetime.fromisoformat("2026-11-21T10:00:00+00:00").timestamp()


def members_and_summary(engine) -> tuple[dict[str, float], AccountItem]:
    members, _ = engine.repository.account_members(ACCOUNT)
    return members, AccountItem.get(ACCOUNT, "#summary", consistent_read=True)


def assert_exact(engine) -> dict[str, float]:
    """The account holds each member's score as its lead item has it, and counts them right."""
    members, summary = members_and_summary(engine)
    for lead, score in members.items():
        assert float(LeadItem.get(lead, consistent_read=True).score) == score, lead
    assert int(summary.members) == len(members)
    if summary.inline is None:
        assert float(summary.total) == pytest.approx(sum(members.values()))
    assert stored_score(engine, ACCOUNT, TOP3) == pytest.approx(every_member_score(engine, ACCOUNT, TOP3))
    return members


def dies(*_args, **_kwargs):
    raise RetryableStorageError("the Lambda timed out")


@pytest.fixture
def crashed(engine, monkeypatch):
    """Ann (5 points) and Bob (1) in a small account; then Ann's second download is saved and the
    Lambda dies before her new score reaches the account's summary: her lead says 10, it says 5."""
    service = engine.service(TOP3)
    assert not service.score([accepted("a1", email=ANN, type_="download")]).failures
    assert not service.score([accepted("b1", email="bob@acme.example")]).failures
    with monkeypatch.context() as patch:
        patch.setattr(AccountItem, "update", dies)
        result = service.score([accepted("a2", email=ANN, type_="download")])
    assert result.failures  # not acknowledged: SQS delivers it again
    assert float(LeadItem.get(ANN, consistent_read=True).score) == 10.0
    assert members_and_summary(engine)[0][ANN] == 5.0
    return service


def test_the_redelivery_writes_the_score_the_first_delivery_did_not(engine, crashed):
    result = crashed.score([accepted("a2", email=ANN, type_="download")])
    assert not result.failures and result.duplicates == 1 and result.scored == 0
    assert assert_exact(engine) == {ANN: 10.0, "bob@acme.example": 1.0}
    version = int(LeadItem.get(ANN, consistent_read=True).version)
    assert members_and_summary(engine)[1].inline_versions.as_dict()[member_key(ANN)] == version
    # a third delivery finds it written: nothing moves
    assert not crashed.score([accepted("a2", email=ANN, type_="download")]).failures
    assert assert_exact(engine) == {ANN: 10.0, "bob@acme.example": 1.0}


def test_the_redelivery_after_the_account_spilled_sets_its_member_item_and_sum(engine, crashed):
    # the account fills up and spills before the message comes back: Ann's item gets the 5 it held
    for i in range(INLINE_MEMBERS - 1):
        assert not crashed.score([accepted(f"j{i}", email=f"buyer{i}@acme.example")]).failures
    members, summary = members_and_summary(engine)
    assert summary.inline is None and members[ANN] == 5.0
    assert not crashed.score([accepted("a2", email=ANN, type_="download")]).failures
    members = assert_exact(engine)
    assert members[ANN] == 10.0 and len(members) == INLINE_MEMBERS + 1


def test_a_later_save_of_the_lead_before_the_redelivery_sets_the_spilled_member_right_first(engine, crashed):
    for i in range(INLINE_MEMBERS - 1):
        assert not crashed.score([accepted(f"j{i}", email=f"buyer{i}@acme.example")]).failures
    # a rescore's or another path's save of Ann comes first: its sum would move by 11 - 10 while
    # her item holds 5, so the save finds the item wrong, sets it to 10 (and the sum), then saves
    assert not crashed.score([accepted("a3", email=ANN)]).failures
    assert assert_exact(engine)[ANN] == 11.0
    assert not crashed.score([accepted("a2", email=ANN, type_="download")]).failures  # the redelivery
    assert assert_exact(engine)[ANN] == 11.0


def test_a_late_write_of_an_older_version_never_replaces_a_newer_score(engine):
    service = engine.service(TOP3)
    for n in range(3):
        assert not service.score([accepted(f"a{n}", email=ANN, type_="download")]).failures
    stored = LeadItem.get(ANN, consistent_read=True)
    assert members_and_summary(engine)[0][ANN] == float(stored.score) == 15.0
    engine.repository.sync_member(ACCOUNT, ANN, 5.0, int(stored.version) - 2)  # delayed since its save
    assert assert_exact(engine)[ANN] == 15.0
    engine.repository.sync_member(ACCOUNT, ANN, 15.0, int(stored.version))  # a redelivery: written already
    assert assert_exact(engine)[ANN] == 15.0


def test_members_saving_many_times_at_once_and_redelivered_end_with_their_own_scores(engine):
    service = engine.service(TOP3, max_attempts=50)
    leads = [f"buyer{i}@acme.example" for i in range(4)]
    batches = [
        [accepted(f"{lead}-{n}", email=lead, type_="download" if n % 2 else "page_view")] for lead in leads for n in range(8)
    ]
    with ThreadPoolExecutor(max_workers=12) as pool:
        results = list(pool.map(service.score, batches))
        results += list(pool.map(service.score, batches[::3]))  # redelivered, concurrently again
    assert all(not r.failures for r in results), [r.failures for r in results if r.failures]
    members = assert_exact(engine)
    assert members == {lead: 4 * 1.0 + 4 * 5.0 for lead in leads}
    assert members_and_summary(engine)[1].inline is not None  # still a small account


def test_a_summary_written_before_versions_and_a_member_missing_from_it_are_set_right(engine):
    service = engine.service(TOP3)
    service.score([accepted("a1", email=ANN, type_="download"), accepted("b1", email="bob@acme.example")])
    # as the release before wrote it: no versions; and Ann's entry lost (as only that release could)
    AccountItem(ACCOUNT, "#summary").update(
        actions=[
            AccountItem.inline_versions.remove(),
            AccountItem.inline[member_key(ANN)].remove(),
            AccountItem.members.add(-1),
        ]
    )
    assert members_and_summary(engine)[0] == {"bob@acme.example": 1.0}
    assert not service.score([accepted("a2", email=ANN, type_="download")]).failures
    assert assert_exact(engine) == {ANN: 10.0, "bob@acme.example": 1.0}  # joined again
    assert not service.score([accepted("b2", email="bob@acme.example")]).failures
    assert assert_exact(engine) == {ANN: 10.0, "bob@acme.example": 2.0}
    assert set(members_and_summary(engine)[1].inline_versions.as_dict()) == {member_key(ANN), member_key("bob@acme.example")}


def test_leaving_the_spilled_account_after_a_lost_write_takes_out_the_score_its_item_holds(engine, crashed):
    for i in range(INLINE_MEMBERS - 1):
        assert not crashed.score([accepted(f"j{i}", email=f"buyer{i}@acme.example")]).failures
    # the redelivery comes in one batch with Ann's next message, which moves her to another
    # company: the sum must lose the 5 her item holds, not the 10 her lead was saved with
    moved = accepted("mv", email=ANN, type_="identify", at="2026-11-20T11:00:00Z", profile={"company_id": "ELSEWHERE"})
    assert not crashed.score([accepted("a2", email=ANN, type_="download"), moved]).failures
    members = assert_exact(engine)
    assert ANN not in members and len(members) == INLINE_MEMBERS


DECAY = """
decay: {after_inactive: 21d, every: 7d, percent: 50%, floor: 0}
rules:
  - {id: visit, when: {event: page_view}, points: 1}
  - {id: wp, when: {event: download}, points: 20}
"""


def test_a_tick_whose_decay_was_saved_before_the_lambda_died_writes_the_score_when_it_comes_back(engine, monkeypatch):
    service = engine.service(DECAY)
    assert not service.score([accepted("a1", email=ANN, type_="download", at="2026-10-01T10:00:00Z")]).failures
    assert not service.score([accepted("b1", email="bob@acme.example", at="2026-10-01T10:00:00Z")]).failures
    at = datetime.fromisoformat("2026-11-15T05:00:00+00:00").timestamp()
    tick = AcceptedEvent(schedule_tick(ANN, at), {}, "t1", "schedule")
    with monkeypatch.context() as patch:
        patch.setattr(AccountItem, "update", dies)
        assert service.score([tick]).failures
    assert float(LeadItem.get(ANN, consistent_read=True).score) < 20.0 == members_and_summary(engine)[0][ANN]
    # the tick again: its decay is done, so nothing is saved, but the account gets the score
    assert not service.score([tick]).failures
    assert assert_exact(engine)[ANN] < 20.0


def test_a_tick_redelivered_with_an_event_that_moves_nothing_still_writes_the_lost_score(engine, monkeypatch):
    service = engine.service(DECAY)
    assert not service.score([accepted("a1", email=ANN, type_="download", at="2026-10-01T10:00:00Z")]).failures
    assert not service.score([accepted("b1", email=BOB, at="2026-10-01T10:00:00Z")]).failures
    at = datetime.fromisoformat("2026-11-15T05:00:00+00:00").timestamp()
    tick = AcceptedEvent(schedule_tick(ANN, at), {}, "t1", "schedule")
    with monkeypatch.context() as patch:
        patch.setattr(AccountItem, "update", dies)
        assert service.score([tick]).failures
    # the tick comes back in one batch with an identify that changes her name, not her score: the
    # batch saves (so it is no no-op) and has no duplicate (a tick never is one)
    named = accepted("i1", email=ANN, type_="identify", at="2026-11-15T06:00:00Z", profile={"first_name": "Ann"})
    assert not service.score([tick, named]).failures
    assert assert_exact(engine)[ANN] < 20.0


def test_a_late_write_finds_a_version_map_made_since_without_its_member_and_still_loses_to_the_newer(engine):
    service = engine.service(TOP3)
    service.score([accepted("a1", email=ANN, type_="download"), accepted("b1", email=BOB)])
    # a summary as the release before left it for Bob: a version map (a join made it) without him
    unversioned = AccountItem(ACCOUNT, "#summary")
    unversioned.update(actions=[AccountItem.inline_versions[member_key(BOB)].remove()])
    stale = AccountItem.get(ACCOUNT, "#summary", consistent_read=True)  # what Bob's next save reads first
    assert not service.score([accepted("b2", email=BOB)]).failures
    older = int(LeadItem.get(BOB, consistent_read=True).version)
    unversioned.update(actions=[AccountItem.inline_versions[member_key(BOB)].remove()])
    assert not service.score([accepted("b3", email=BOB)]).failures  # a newer save writes first
    engine.repository._sync(ACCOUNT, BOB, 2.0, older, stale)  # then the older one's, late
    assert assert_exact(engine)[BOB] == 3.0


def test_an_erasure_leaves_no_trace_of_the_lead_when_its_late_write_made_the_version_map(engine, monkeypatch):
    service = engine.service(TOP3)
    service.score([accepted("a1", email=ANN, type_="download"), accepted("b1", email=BOB)])
    AccountItem(ACCOUNT, "#summary").update(actions=[AccountItem.inline_versions.remove()])  # as written before
    with monkeypatch.context() as patch:
        patch.setattr(AccountItem, "update", dies)
        service.score([accepted("a2", email=ANN, type_="download")])  # saved; its score not yet written
    lead = LeadItem.get(ANN, consistent_read=True)
    read_summary = LeadRepository._summary
    late: list[bool] = []

    def summary_then_the_late_write(account):
        summary = read_summary(account)
        if not late:  # lands between the erasure's read of the summary and its transaction
            late.append(True)
            engine.repository.sync_member(ACCOUNT, ANN, float(lead.score), int(lead.version))
        return summary

    monkeypatch.setattr(LeadRepository, "_summary", staticmethod(summary_then_the_late_write))
    with pytest.raises(VersionConflict):  # the summary changed under it: the forget function reads again
        engine.repository.remove_lead(ANN)
    monkeypatch.setattr(LeadRepository, "_summary", staticmethod(read_summary))
    assert engine.repository.remove_lead(ANN).removed
    summary = AccountItem.get(ACCOUNT, "#summary", consistent_read=True)
    assert ANN not in str(summary.inline.as_dict()) + str(summary.inline_versions.as_dict())
    assert assert_exact(engine) == {BOB: 1.0}


def test_a_member_item_written_before_member_score_existed_is_moved_and_left_like_any_other(engine):
    service = engine.service(TOP3)
    for i in range(INLINE_MEMBERS + 1):
        assert not service.score([accepted(f"j{i}", email=f"buyer{i}@acme.example")]).failures
    for lead in ("buyer0@acme.example", "buyer1@acme.example"):  # as releases before wrote them: `score`
        AccountItem(ACCOUNT, f"member#{lead}").update(
            actions=[AccountItem.member_score.remove(), AccountItem.score.set(1.0)]
        )
    assert not service.score([accepted("x1", email="buyer0@acme.example", type_="download")]).failures
    moved = accepted("x2", email="buyer1@acme.example", type_="identify", profile={"company_id": "ELSEWHERE"})
    assert not service.score([moved]).failures
    assert engine.repository.remove_lead("buyer2@acme.example").removed  # and one erased
    members = assert_exact(engine)
    assert members["buyer0@acme.example"] == 6.0 and len(members) == INLINE_MEMBERS - 1


def test_a_rescore_visit_writes_the_member_in_the_lead_s_transaction_as_nothing_delivers_it_again(engine):
    assert not engine.service(TOP3).score([accepted("a1", email=ANN, type_="download")]).failures
    rescored = engine.service(TOP3.replace("points: 5", "points: 7"))
    visit = AcceptedEvent(model_change_event(ANN, START, rescored.model.version), {}, f"rescore:{ANN}", "rescore")
    calls: list[str] = []
    client = rescored.repository._connection.client
    clients = {id(c): c for c in (client, LeadItem._get_connection().connection.client, AccountItem._get_connection().connection.client)}

    def count(model, **_):
        calls.append(model.name)

    for each in clients.values():
        each.meta.events.register("before-call.dynamodb", count)
    try:
        assert not rescored.score([visit]).failures
    finally:
        for each in clients.values():
            each.meta.events.unregister("before-call.dynamodb", count)
    assert "TransactWriteItems" in calls and "UpdateItem" not in calls and "PutItem" not in calls, calls
    assert assert_exact(engine) == {ANN: 7.0}


def test_an_id_an_older_release_left_in_the_version_map_goes_at_the_account_s_next_member_move(engine):
    service = engine.service(TOP3)
    service.score([accepted("a1", email=ANN, type_="download"), accepted("b1", email=BOB)])
    gone = "erased@acme.example"  # erased by a release that did not know the map: only its version left
    AccountItem(ACCOUNT, "#summary").update(actions=[AccountItem.inline_versions[member_key(gone)].set(3)])
    assert not service.score([accepted("a2", email=ANN)]).failures
    versions = members_and_summary(engine)[1].inline_versions.as_dict()
    assert set(versions) == {member_key(ANN), member_key(BOB)}
    assert assert_exact(engine) == {ANN: 6.0, BOB: 1.0}


def test_a_rescore_visit_to_a_member_its_small_account_does_not_list_joins_it(engine):
    service = engine.service(TOP3)
    service.score([accepted("a1", email=ANN, type_="download"), accepted("b1", email=BOB)])
    AccountItem(ACCOUNT, "#summary").update(  # as only an older release could leave it
        actions=[
            AccountItem.inline_versions.remove(),
            AccountItem.inline[member_key(ANN)].remove(),
            AccountItem.members.add(-1),
        ]
    )
    rescored = engine.service(TOP3.replace("points: 5", "points: 7"))
    visit = AcceptedEvent(model_change_event(ANN, START, rescored.model.version), {}, f"rescore:{ANN}", "rescore")
    assert not rescored.score([visit]).failures
    assert assert_exact(engine) == {ANN: 7.0, BOB: 1.0}
