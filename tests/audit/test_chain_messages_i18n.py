"""The problems found in the audit chain are told in the language of the screen (English on
request) and, by default, in exactly the Japanese they always had."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from io import StringIO
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import translation

from audit.chain import EVENT_FIELDS, GENESIS_HASH, ChainBreak, ChainBroken, check_links
from audit.checkpoints import checkpoint_create, checkpoint_public_key, key_id_for
from audit.verification import chain_verify
from tests.audit.conftest import AS_OWNER, owner_sql, triggers_disabled

# Kana, kanji, CJK punctuation and full-width forms.
JAPANESE = re.compile(r"[\u3000-\u30ff\u4e00-\u9fff\uff00-\uffef]")
EVENT_ID = 42


def link(seq: int, prev_hash: str, current: str) -> tuple[Any, ...]:
    row = (
        EVENT_ID,
        datetime(2026, 11, 2, 9, 30, tzinfo=UTC),
        "job",
        "test",
        "test",
        "kiosk.issue",
        "success",
        "",
        [7],
        ["C-0001"],
        "test",
        "",
        {"n": 1},
    )
    assert len(row) == len(EVENT_FIELDS)
    return (seq, prev_hash, current, *row)


def problem_of(check: Callable[[], Any]) -> ChainBreak:
    with pytest.raises(ChainBroken) as broken:
        check()
    return broken.value.problem


def in_both_languages(find: Callable[[], ChainBreak | None]) -> tuple[ChainBreak, ChainBreak]:
    with translation.override(django_settings.LANGUAGE_CODE):  # the default: Japanese
        ja = find()
    with translation.override("en"):
        en = find()
    assert ja is not None and en is not None
    assert (en.code, en.seq, en.event_id) == (ja.code, ja.seq, ja.event_id)
    assert JAPANESE.findall(en.message) == [], en.message
    return ja, en


@pytest.mark.parametrize(
    ("chunk", "expected_seq", "code", "japanese", "english"),
    [
        (
            [link(3, GENESIS_HASH, "00" * 32)],
            1,
            "seq_gap",
            "連番 1 が欠けています(次に見つかったのは連番 3)",
            "Sequence number 1 is missing (the next one found is sequence number 3)",
        ),
        (
            [link(1, "ab" * 32, "00" * 32)],
            1,
            "prev_hash_mismatch",
            f"連番 1(イベントID {EVENT_ID}): 直前のハッシュが一致しません",
            f"Sequence number 1 (event ID {EVENT_ID}): the previous hash does not match",
        ),
        (
            [link(1, GENESIS_HASH, "00" * 32)],
            1,
            "event_altered",
            f"連番 1(イベントID {EVENT_ID}): 記録内容がハッシュと一致しません(改ざん)",
            f"Sequence number 1 (event ID {EVENT_ID}): the record does not match its hash (tampering)",
        ),
    ],
)
def test_link_problems_in_both_languages(chunk, expected_seq, code, japanese, english):
    def find() -> ChainBreak:
        return problem_of(
            lambda: check_links(
                chunk, expected_seq=expected_seq, running_hash=GENESIS_HASH, check_subjects=False
            )
        )

    ja, en = in_both_languages(find)

    assert ja.code == code
    assert ja.message == japanese
    assert en.message == english


def verified() -> ChainBreak | None:
    return chain_verify().first_break


@AS_OWNER
def test_missing_resident_index_row_in_both_languages(record_events):
    events = record_events(2, resident_ids=(11,))
    with triggers_disabled("audit_auditeventresident"):
        owner_sql("DELETE FROM audit_auditeventresident WHERE event_id = %s", (events[1].pk,))

    ja, en = in_both_languages(verified)

    assert ja.code == "subjects_altered"
    assert ja.message == f"連番 2(イベントID {events[1].pk}): 対象住民の索引が記録内容と一致しません"
    assert en.message == (
        f"Sequence number 2 (event ID {events[1].pk}): "
        "the index of the residents concerned does not match the record"
    )


@AS_OWNER
def test_unchained_event_in_both_languages(record_events):
    events = record_events(3)
    with triggers_disabled("audit_auditchainlink", "audit_auditchainhead"):
        owner_sql("DELETE FROM audit_auditchainlink WHERE seq = 3")
        owner_sql(
            "UPDATE audit_auditchainhead SET seq = 2,"
            " hash = (SELECT hash FROM audit_auditchainlink WHERE seq = 2)"
        )

    ja, en = in_both_languages(verified)

    assert ja.message == f"イベントID {events[2].pk} がチェーンにも未連結の待ち行列にもありません"
    assert en.message == (
        f"Event ID {events[2].pk} is neither in the chain nor in the queue of events awaiting chaining"
    )


@AS_OWNER
def test_head_problems_in_both_languages(record_events):
    record_events(3)
    with triggers_disabled("audit_auditchainhead"):
        owner_sql("UPDATE audit_auditchainhead SET hash = %s", ("cd" * 32,))
    ja, en = in_both_languages(verified)
    assert ja.message == "チェーン先頭が連番 3 と一致しません"
    assert en.message == "The chain head does not match sequence number 3"

    with triggers_disabled("audit_auditchainhead"):
        owner_sql("UPDATE audit_auditchainhead SET seq = 5")
    ja, en = in_both_languages(verified)
    assert ja.message == "連番 4 以降が失われています(チェーン先頭は連番 5)"
    assert en.message == "Sequence number 4 and later are missing (the chain head is at sequence number 5)"


@AS_OWNER
def test_checkpoint_problems_in_both_languages(record_events, settings):
    record_events(4)
    checkpoint_create()
    folder = settings.AUDIT_CHECKPOINT_DIR
    path = folder / "checkpoint-000000000004.json"
    original = path.read_text()

    data = json.loads(original)
    data["root_hash"] = "00" * 32
    path.write_text(json.dumps(data))
    ja, en = in_both_languages(verified)
    assert ja.message == "チェックポイント(件数 4, ファイル): 署名が正しくありません"
    assert en.message == "Checkpoint (size 4, file): the signature is not valid"

    path.write_text("not json")
    ja, en = in_both_languages(verified)
    assert ja.message == "チェックポイント(件数 4)のファイルを読めません"
    assert en.message == "The file of the checkpoint (size 4) cannot be read"

    path.unlink()
    ja, en = in_both_languages(verified)
    assert ja.message == "チェックポイント(件数 4)のファイルがありません"
    assert en.message == "The file of the checkpoint (size 4) is missing"

    path.write_text(original)
    (folder / "notes.json").write_text("{}")
    ja, en = in_both_languages(verified)
    assert ja.message == "不明なチェックポイントファイル: notes.json"
    assert en.message == "Unknown checkpoint file: notes.json"

    (folder / "notes.json").unlink()
    (settings.VAR_DIR / "secrets" / "audit_signing_key.pem").unlink()  # next use creates a new key
    ja, en = in_both_languages(verified)
    assert ja.message == "チェックポイント(件数 4, データベース): 署名鍵が異なります"
    assert en.message == "Checkpoint (size 4, database): signed with a different key"

    with triggers_disabled("audit_auditcheckpoint"):
        owner_sql("DELETE FROM audit_auditcheckpoint")
    ja, en = in_both_languages(verified)
    assert ja.message == "チェックポイント(件数 4)のファイルはありますが、データベースにありません"
    assert en.message == (
        "The file of the checkpoint (size 4) exists, but the checkpoint is not in the database"
    )


@AS_OWNER
def test_audit_verify_speaks_the_default_language(record_events):
    """Even when the caller left English active (a process that served an English request)."""
    events = record_events(3)
    out = StringIO()
    with translation.override("en"):
        call_command("audit_verify", stdout=out)
    key_id = key_id_for(checkpoint_public_key())
    assert out.getvalue().splitlines() == [
        "検証したイベント: 3 件 / チェックポイント: 0 件 / 未連結(連結待ち): 0 件",
        f"現在の署名鍵: {key_id} / 信頼する退役鍵: 0 個 / チェックポイントの署名鍵: —",
        "監査ログは完全です(チェーンとチェックポイントを確認しました)。",
    ]

    with triggers_disabled("audit_auditevent"):
        owner_sql("UPDATE audit_auditevent SET reason = 'x' WHERE id = %s", (events[1].pk,))
    with translation.override("en"), pytest.raises(CommandError) as failed:
        call_command("audit_verify", stdout=StringIO(), stderr=StringIO())
    assert str(failed.value) == (
        f"監査ログの検証に失敗しました [event_altered] seq=2: "
        f"連番 2(イベントID {events[1].pk}): 記録内容がハッシュと一致しません(改ざん)"
    )
    with pytest.raises(CommandError, match=re.escape("--chunk-size は 1 以上にしてください")):
        call_command("audit_verify", chunk_size=0)
