import base64

import pytest
from django.core.exceptions import ImproperlyConfigured

from residents.crypto import MyNumberDecryptionError, MyNumberKeyring, my_number_decrypt, my_number_encrypt

KEY_A = "a1:" + base64.b64encode(bytes(range(32))).decode()
KEY_B = "b2:" + base64.b64encode(bytes(range(1, 33))).decode()


def test_round_trip_and_ciphertext_hides_the_number():
    ring = MyNumberKeyring.parse(KEY_A)
    stored = ring.encrypt("123456789018", resident_code="R0001")
    assert "123456789018" not in stored
    assert stored.startswith("a1:")
    assert ring.decrypt(stored, resident_code="R0001") == "123456789018"


def test_each_encryption_uses_a_fresh_nonce():
    ring = MyNumberKeyring.parse(KEY_A)
    assert ring.encrypt("123456789018", resident_code="R1") != ring.encrypt(
        "123456789018", resident_code="R1"
    )


def test_ciphertext_copied_to_another_row_fails():
    ring = MyNumberKeyring.parse(KEY_A)
    stored = ring.encrypt("123456789018", resident_code="R0001")
    with pytest.raises(MyNumberDecryptionError):
        ring.decrypt(stored, resident_code="R0002")


def test_wrong_key_raises():
    stored = MyNumberKeyring.parse(KEY_A).encrypt("123456789018", resident_code="R1")
    impostor = MyNumberKeyring.parse("a1:" + base64.b64encode(bytes(32)).decode())
    with pytest.raises(MyNumberDecryptionError):
        impostor.decrypt(stored, resident_code="R1")


def test_unknown_key_id_raises():
    stored = MyNumberKeyring.parse(KEY_A).encrypt("123456789018", resident_code="R1")
    with pytest.raises(MyNumberDecryptionError):
        MyNumberKeyring.parse(KEY_B).decrypt(stored, resident_code="R1")


def test_a_flipped_byte_is_detected():
    ring = MyNumberKeyring.parse(KEY_A)
    key_id, _, encoded = ring.encrypt("123456789018", resident_code="R1").partition(":")
    blob = bytearray(base64.b64decode(encoded))
    blob[-1] ^= 0x01
    with pytest.raises(MyNumberDecryptionError):
        ring.decrypt(f"{key_id}:{base64.b64encode(bytes(blob)).decode()}", resident_code="R1")


def test_rotation_old_ciphertexts_still_decrypt_and_new_ones_use_the_active_key():
    old = MyNumberKeyring.parse(KEY_A).encrypt("123456789018", resident_code="R1")
    rotated = MyNumberKeyring.parse(f"{KEY_A},{KEY_B}", active_key_id="b2")
    assert rotated.decrypt(old, resident_code="R1") == "123456789018"
    assert rotated.encrypt("123456789018", resident_code="R1").startswith("b2:")


def test_error_messages_carry_no_personal_data():
    ring = MyNumberKeyring.parse(KEY_A)
    stored = ring.encrypt("123456789018", resident_code="R0001")
    with pytest.raises(MyNumberDecryptionError) as excinfo:
        ring.decrypt(stored, resident_code="R0002")
    assert "123456789018" not in str(excinfo.value)
    assert "R0002" not in str(excinfo.value)


@pytest.mark.parametrize(
    "spec",
    ["", "nokey", "k1:not-base64!", "k1:" + base64.b64encode(b"short").decode()],
)
def test_malformed_key_configuration_fails_loudly(spec):
    with pytest.raises(ImproperlyConfigured):
        MyNumberKeyring.parse(spec)


def test_active_key_must_exist():
    with pytest.raises(ImproperlyConfigured):
        MyNumberKeyring.parse(KEY_A, active_key_id="zz")


def test_module_functions_use_the_configured_keys(settings):
    settings.MY_NUMBER_KEYS = KEY_B
    settings.MY_NUMBER_ACTIVE_KEY_ID = ""
    stored = my_number_encrypt("123456789018", resident_code="R9")
    assert stored.startswith("b2:")
    assert my_number_decrypt(stored, resident_code="R9") == "123456789018"
