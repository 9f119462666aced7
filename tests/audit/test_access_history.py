from datetime import UTC, datetime

import pytest

from audit.access_history import AccessHistoryEntry, access_history_for_resident
from audit.services import Actor, audit_record

pytestmark = pytest.mark.django_db


class Clerk:
    pk = 42

    def get_username(self) -> str:
        return "yamada.hanako"


def test_access_history_names_roles_never_people_newest_first(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        audit_record(actor=Actor.job("sync"), action="sync.batch_applied", resident_ids=[5, 6])
        audit_record(actor=Actor.user(Clerk()), action="admin.resident_view", resident_ids=[5])
        audit_record(
            actor=Actor(kind="terminal", id="1", label="ローソン 77"),
            action="certificate.issued",
            resident_ids=[5],
        )
        audit_record(actor=Actor.user(Clerk(), kind="auditor"), action="audit.search", resident_ids=[5])
        audit_record(actor=Actor.job("sync"), action="sync.batch_applied", resident_ids=[6])

    history = access_history_for_resident(resident_id=5)

    assert [(entry.accessor, entry.action) for entry in history] == [
        ("監査", "監査による記録の検索"),
        ("コンビニ交付", "証明書の発行"),
        ("市民生活課", "職員による住民情報の閲覧"),
        ("基幹系連携", "基幹系システムからのデータ更新"),
    ]
    assert all(isinstance(entry, AccessHistoryEntry) for entry in history)
    assert history[0].at >= history[-1].at
    assert all("yamada" not in entry.accessor + entry.action for entry in history)


def test_access_history_is_limited_and_unknown_actions_get_a_generic_label(
    django_capture_on_commit_callbacks,
):
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(3):
            audit_record(actor=Actor.system(), action="kiosk.something_new", resident_ids=[8])
        audit_record(actor=Actor.system(), action="zzz.unknown", resident_ids=[8])

    history = access_history_for_resident(resident_id=8, limit=2)

    assert len(history) == 2
    assert history[0].action == "その他の利用" and history[0].accessor == "システム"
    assert history[1].action == "コンビニ交付での利用"
    assert access_history_for_resident(resident_id=999) == []
    assert isinstance(history[0].at, datetime) and history[0].at.tzinfo is not None
    assert history[0].at <= datetime.now(UTC)


def test_an_authentication_names_the_credential_used(django_capture_on_commit_callbacks):
    kiosk = Actor(kind="terminal", id="1", label="ローソン 77")
    with django_capture_on_commit_callbacks(execute=True):
        # Recorded before smartphones were accepted: no credential in the payload, a card.
        audit_record(actor=kiosk, action="kiosk.authenticate", resident_ids=[9], payload={"session": "a"})
        audit_record(
            actor=kiosk, action="kiosk.authenticate", resident_ids=[9], payload={"credential": "card"}
        )
        audit_record(
            actor=kiosk, action="kiosk.authenticate", resident_ids=[9], payload={"credential": "smartphone"}
        )

    history = access_history_for_resident(resident_id=9)

    assert [entry.action for entry in history] == [
        "スマートフォンによる本人確認",
        "マイナンバーカードによる本人確認",
        "マイナンバーカードによる本人確認",
    ]
