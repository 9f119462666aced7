"""Rotating the audit checkpoint key: earlier checkpoints still verify with the retired keys, in
their order of use; a retired key signing after its successor is a forgery; audit_key_new makes the
next key without ever printing it."""

from __future__ import annotations

import stat
from io import StringIO

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from django.utils import translation

from audit.checkpoints import checkpoint_create, key_id_for, private_key_pem
from audit.keyring import checkpoint_keyring, public_key_pem
from audit.verification import chain_verify
from tests.audit.test_verify import run_verify


class Key:
    """An Ed25519 key as an operator handles it: its private PEM, public PEM and key_id."""

    def __init__(self) -> None:
        private = Ed25519PrivateKey.generate()
        self.private_pem = private_key_pem(private)
        self.public_pem = public_key_pem(private.public_key())
        self.key_id = key_id_for(private.public_key())


@pytest.fixture
def keys() -> tuple[Key, Key, Key]:
    return Key(), Key(), Key()


@pytest.fixture
def sign_with(monkeypatch):
    """Configure the signing key and the retired bundle as the environment of a deployment would."""

    def configure(current: Key, *, retired: tuple[Key, ...] = ()) -> None:
        monkeypatch.setenv("AUDIT_SIGNING_KEY", current.private_pem)
        monkeypatch.setenv("AUDIT_RETIRED_PUBLIC_KEYS", "".join(key.public_pem for key in retired))

    return configure


@pytest.mark.django_db
def test_after_a_rotation_every_checkpoint_still_verifies(record_events, sign_with, keys):
    a, b, _ = keys
    sign_with(a)
    record_events(3)
    checkpoint_create()
    record_events(2)
    checkpoint_create()

    sign_with(b, retired=(a,))
    record_events(2)
    checkpoint_create()

    status, output = run_verify()
    assert status == 0, output
    assert "検証したイベント: 7 件 / チェックポイント: 3 件" in output
    assert f"現在の署名鍵: {b.key_id} / 信頼する退役鍵: 1 個" in output
    assert f"チェックポイントの署名鍵: {a.key_id} → {b.key_id}" in output
    report = chain_verify()
    assert report.ok and report.checkpoints_checked == 3 and report.key_ids == [a.key_id, b.key_id]


@pytest.mark.django_db
def test_retired_keys_from_a_file_in_their_order_of_use(
    record_events, sign_with, keys, monkeypatch, tmp_path
):
    for current in keys:
        sign_with(current)
        record_events(1)
        checkpoint_create()
    a, b, c = keys
    bundle = tmp_path / "retired.pem"
    bundle.write_text(a.public_pem + "\n" + b.public_pem)
    monkeypatch.delenv("AUDIT_RETIRED_PUBLIC_KEYS")
    monkeypatch.setenv("AUDIT_RETIRED_PUBLIC_KEYS_FILE", str(bundle))

    keyring = checkpoint_keyring()
    report = chain_verify()

    assert (keyring.current_key_id, keyring.retired_count) == (c.key_id, 2)
    assert report.ok and report.key_ids == [a.key_id, b.key_id, c.key_id]


@pytest.mark.django_db
def test_a_checkpoint_of_a_key_that_is_not_retired_is_unknown(record_events, sign_with, keys):
    a, b, _ = keys
    sign_with(a)
    record_events(2)
    checkpoint_create()
    sign_with(b)  # rotated, but A was not added to the retired bundle

    status, output = run_verify()

    assert status != 0
    assert "checkpoint_unknown_key" in output and "seq=2" in output


@pytest.mark.django_db
def test_a_retired_key_signing_after_its_successor_is_refused(record_events, sign_with, keys):
    a, b, _ = keys
    sign_with(a)
    record_events(2)
    checkpoint_create()
    sign_with(b, retired=(a,))
    record_events(2)
    checkpoint_create()
    sign_with(a)  # someone holding the leaked key A signs a checkpoint of their own
    record_events(2)
    checkpoint_create()
    sign_with(b, retired=(a,))

    report = chain_verify()
    status, output = run_verify()

    assert report.first_break is not None
    assert (report.first_break.code, report.first_break.seq) == ("checkpoint_key_out_of_order", 6)
    assert report.first_break.message == (
        f"チェックポイント(件数 6, データベース): 後継の署名鍵 {b.key_id} に替わった後に、"
        f"前の署名鍵 {a.key_id} で署名されています"
    )
    assert report.checkpoints_checked == 2 and report.key_ids == [a.key_id, b.key_id]
    assert status != 0 and "[checkpoint_key_out_of_order] seq=6" in output
    with translation.override("en"):
        english = chain_verify().first_break
    assert english is not None and english.message == (
        f"Checkpoint (size 6, database): signed with the earlier key {a.key_id}"
        f" after its successor {b.key_id} had taken over"
    )


@pytest.mark.parametrize(
    ("bundle", "complaint"),
    [
        (lambda a, b: "not a key", "must hold only PEM public keys"),
        (lambda a, b: a.public_pem + "# comment\n", "must hold only PEM public keys"),
        (lambda a, b: b.public_pem + a.private_pem, "must hold only PEM public keys"),
        (
            lambda a, b: "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
            "key 1 is not a valid PEM public key",
        ),
        (
            lambda a, b: (
                a.public_pem
                + generate_private_key(SECP256R1())
                .public_key()
                .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
                .decode()
            ),
            "key 2 must be an Ed25519 key",
        ),
        (lambda a, b: a.public_pem + b.public_pem + a.public_pem, "key 3 is listed twice"),
        (lambda a, b: a.public_pem + b.public_pem, "holds the current verification key"),
    ],
    ids=["garbage", "comment", "private-key", "bad-pem", "not-ed25519", "duplicate", "current"],
)
def test_a_bad_retired_bundle_stops_verification(sign_with, keys, monkeypatch, bundle, complaint):
    a, b, _ = keys
    sign_with(b)
    monkeypatch.setenv("AUDIT_RETIRED_PUBLIC_KEYS", bundle(a, b))

    with pytest.raises(ImproperlyConfigured) as refused:
        checkpoint_keyring()

    message = str(refused.value)
    assert message.startswith("AUDIT_RETIRED_PUBLIC_KEYS") and complaint in message
    for key in (a, b):  # no key material in the message
        assert key.private_pem.splitlines()[1] not in message
        assert key.public_pem.splitlines()[1] not in message


def test_an_unreadable_bundle_file_is_a_configuration_error(monkeypatch, tmp_path):
    monkeypatch.setenv("AUDIT_RETIRED_PUBLIC_KEYS_FILE", str(tmp_path / "missing.pem"))
    with pytest.raises(ImproperlyConfigured, match="AUDIT_RETIRED_PUBLIC_KEYS_FILE points to an unreadable"):
        checkpoint_keyring()


def test_audit_verify_names_a_bad_bundle_without_a_traceback(monkeypatch):
    monkeypatch.setenv("AUDIT_RETIRED_PUBLIC_KEYS", "not a key")
    with pytest.raises(CommandError, match="AUDIT_RETIRED_PUBLIC_KEYS must hold only PEM public keys"):
        call_command("audit_verify", stdout=StringIO(), stderr=StringIO())


def test_audit_key_new_writes_a_private_file_and_prints_only_the_public_key(tmp_path):
    path = tmp_path / "audit-2027.pem"
    out = StringIO()
    with translation.override("en"):
        call_command("audit_key_new", out=path, stdout=out)

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    private = serialization.load_pem_private_key(path.read_bytes(), password=None)
    assert isinstance(private, Ed25519PrivateKey)
    output = out.getvalue()
    assert f"鍵ID: {key_id_for(private.public_key())}" in output  # Japanese, like every command
    assert public_key_pem(private.public_key()) in output + "\n"
    assert "PRIVATE" not in output
    assert all(line not in output for line in path.read_text().splitlines()[1:-1])
    assert "AUDIT_RETIRED_PUBLIC_KEYS" in output and "audit_verify" in output


def test_audit_key_new_never_overwrites_a_file(tmp_path):
    path = tmp_path / "audit-signing.pem"
    path.write_text("the key in use")

    with pytest.raises(CommandError, match="上書きはしません"):
        call_command("audit_key_new", out=path, stdout=StringIO())
    with pytest.raises(CommandError, match="作成できません"):
        call_command("audit_key_new", out=tmp_path / "no-such-folder" / "k.pem", stdout=StringIO())

    assert path.read_text() == "the key in use"
    assert not (tmp_path / "no-such-folder").exists()


@pytest.mark.django_db
def test_the_chain_page_names_the_signing_key_and_the_retired_keys(
    client, auditor, record_events, sign_with, keys, verify_now
):
    a, b, c = keys
    sign_with(b, retired=(a,))
    record_events(2)
    checkpoint_create()
    sign_with(c, retired=(a, b))
    client.force_login(auditor)

    status = client.get(reverse("audit:chain")).content.decode()
    verified = verify_now(client, HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert c.key_id in status and "信頼する退役鍵 2 個" in status
    assert "2 retired keys trusted" in verified
    assert f'Checkpoint signing keys (in order of use): <span class="mono">{b.key_id}</span>' in verified
