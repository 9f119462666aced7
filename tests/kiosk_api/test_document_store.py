"""PDFs awaiting their print are encrypted and bound to their issuance (SPEC §3)."""

import hashlib

import pytest

from kiosk_api.document_store import DocumentDecryptionError, document_decrypt, document_encrypt

PDF = b"%PDF-1.7 one resident's certificate"
SHA = hashlib.sha256(PDF).hexdigest()


def test_round_trip_and_the_stored_bytes_hide_the_document():
    key_id, blob = document_encrypt(PDF, issuance_id=7, sha256=SHA)
    assert PDF not in blob
    assert document_decrypt(blob, key_id=key_id, issuance_id=7, sha256=SHA) == PDF


def test_a_document_copied_to_another_issuance_does_not_open():
    key_id, blob = document_encrypt(PDF, issuance_id=7, sha256=SHA)
    with pytest.raises(DocumentDecryptionError):
        document_decrypt(blob, key_id=key_id, issuance_id=8, sha256=SHA)


def test_an_altered_document_or_unknown_key_does_not_open():
    key_id, blob = document_encrypt(PDF, issuance_id=7, sha256=SHA)
    with pytest.raises(DocumentDecryptionError):
        document_decrypt(blob[:-1] + bytes([blob[-1] ^ 1]), key_id=key_id, issuance_id=7, sha256=SHA)
    with pytest.raises(DocumentDecryptionError):
        document_decrypt(blob, key_id="zz", issuance_id=7, sha256=SHA)
