from __future__ import annotations

import base64
import copy
import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cornerstone.kit.field_crypto import (
    FieldCipher,
    FieldDecryptError,
    generate_key,
    last4,
    mask_account_number,
    mask_tax_id,
)

KEY_1 = bytes(range(32))
KEY_2 = bytes(range(100, 132))
CONTEXT = "org_1:investor_9:tax_id"
TAX_ID = "123-45-6789"


def _key_text(key: bytes) -> str:
    return base64.urlsafe_b64encode(key).rstrip(b"=").decode()


def _flip_one_byte(token: str, index: int) -> str:
    prefix, kid, payload = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    raw[index] ^= 0x01
    return f"{prefix}.{kid}.{_key_text(bytes(raw))}"


@pytest.fixture
def cipher() -> FieldCipher:
    return FieldCipher({"k1": KEY_1}, "k1")


def test_a_field_round_trips(cipher: FieldCipher) -> None:
    token = cipher.encrypt(TAX_ID, context=CONTEXT)
    assert token.startswith("v1.k1.")
    assert TAX_ID not in token
    assert cipher.decrypt(token, context=CONTEXT) == TAX_ID


@given(st.text(max_size=200))
@settings(max_examples=50)
def test_any_text_round_trips(plaintext: str) -> None:
    cipher = FieldCipher({"k1": KEY_1}, "k1")
    assert cipher.decrypt(cipher.encrypt(plaintext, context=CONTEXT), context=CONTEXT) == plaintext


def test_two_encryptions_of_one_value_differ(cipher: FieldCipher) -> None:
    assert cipher.encrypt(TAX_ID, context=CONTEXT) != cipher.encrypt(TAX_ID, context=CONTEXT)


@pytest.mark.parametrize(
    "other_context",
    ["org_1:investor_8:tax_id", "org_1:investor_9:bank_account", "org_2:investor_9:tax_id", CONTEXT + " "],
)
def test_a_token_copied_to_another_row_field_or_org_does_not_decrypt(cipher: FieldCipher, other_context: str) -> None:
    token = cipher.encrypt(TAX_ID, context=CONTEXT)
    with pytest.raises(FieldDecryptError) as raised:
        cipher.decrypt(token, context=other_context)
    assert TAX_ID not in str(raised.value)


@pytest.mark.parametrize("index", [0, 11, 12, -1])  # nonce, first ciphertext byte, tag
def test_a_tampered_token_does_not_decrypt(cipher: FieldCipher, index: int) -> None:
    token = cipher.encrypt(TAX_ID, context=CONTEXT)
    with pytest.raises(FieldDecryptError):
        cipher.decrypt(_flip_one_byte(token, index), context=CONTEXT)


def test_a_token_under_another_key_does_not_decrypt(cipher: FieldCipher) -> None:
    token = FieldCipher({"k1": KEY_2}, "k1").encrypt(TAX_ID, context=CONTEXT)
    with pytest.raises(FieldDecryptError, match="authentication"):
        cipher.decrypt(token, context=CONTEXT)


def test_a_token_naming_an_unknown_key_does_not_decrypt(cipher: FieldCipher) -> None:
    token = FieldCipher({"k9": KEY_1}, "k9").encrypt(TAX_ID, context=CONTEXT)
    with pytest.raises(FieldDecryptError, match="not in the key ring"):
        cipher.decrypt(token, context=CONTEXT)


def test_relabelling_a_token_with_another_kid_of_the_same_key_does_not_decrypt() -> None:
    ring = FieldCipher({"k1": KEY_1, "k2": KEY_1}, "k1")
    token = ring.encrypt(TAX_ID, context=CONTEXT)
    with pytest.raises(FieldDecryptError):
        ring.decrypt(token.replace("v1.k1.", "v1.k2.", 1), context=CONTEXT)


@pytest.mark.parametrize(
    "token",
    [
        "",
        TAX_ID,
        "v1.k1",
        "v1.k1.",
        "v2.k1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "v1.k1.not base64!",
        "v1.k1.AAAA",  # shorter than a nonce and a tag
        "v1..AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "v1.k1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.extra",
        "v1.k1." + "A" * 41,  # not a whole number of bytes
        "v1.k1." + "A" * 42 + "B",  # not canonical base64url: unused bits set
    ],
)
def test_a_malformed_token_does_not_decrypt(cipher: FieldCipher, token: str) -> None:
    with pytest.raises(FieldDecryptError):
        cipher.decrypt(token, context=CONTEXT)


def test_rotation_keeps_old_tokens_readable_and_writes_with_the_new_key() -> None:
    old_ring = FieldCipher({"k1": KEY_1}, "k1")
    old_token = old_ring.encrypt(TAX_ID, context=CONTEXT)
    new_ring = FieldCipher({"k1": KEY_1, "k2": KEY_2}, "k2")
    assert new_ring.decrypt(old_token, context=CONTEXT) == TAX_ID
    new_token = new_ring.encrypt(TAX_ID, context=CONTEXT)
    assert new_token.startswith("v1.k2.")
    assert new_ring.decrypt(new_token, context=CONTEXT) == TAX_ID
    with pytest.raises(FieldDecryptError):
        old_ring.decrypt(new_token, context=CONTEXT)


def test_a_context_is_required(cipher: FieldCipher) -> None:
    with pytest.raises(ValueError, match="context is required"):
        cipher.encrypt(TAX_ID, context="")
    token = cipher.encrypt(TAX_ID, context=CONTEXT)
    with pytest.raises(ValueError, match="context is required"):
        cipher.decrypt(token, context="")


def test_the_cipher_never_shows_its_keys() -> None:
    ring = FieldCipher({"k1": KEY_1, "k2": KEY_2}, "k2")
    assert repr(ring) == "FieldCipher(active_kid='k2', kids=['k1', 'k2'])"
    assert str(ring) == repr(ring)
    for key in (KEY_1, KEY_2):
        for shown in (repr(ring), str(ring)):
            assert repr(key) not in shown
            assert _key_text(key) not in shown
            assert key.hex() not in shown
    with pytest.raises(TypeError, match="pickled"):
        pickle.dumps(ring)
    with pytest.raises(TypeError, match="pickled"):
        copy.deepcopy(ring)


def test_the_ring_refuses_bad_keys_without_showing_them() -> None:
    with pytest.raises(ValueError, match="32 bytes") as raised:
        FieldCipher({"k1": KEY_1[:16]}, "k1")
    assert KEY_1[:16].hex() not in str(raised.value)
    with pytest.raises(ValueError, match="not in the key ring"):
        FieldCipher({"k1": KEY_1}, "k2")
    with pytest.raises(ValueError, match="empty"):
        FieldCipher({}, "k1")
    with pytest.raises(ValueError, match="key id"):
        FieldCipher({"k.1": KEY_1}, "k.1")


def test_from_secret_reads_a_single_key_as_k1() -> None:
    ring = FieldCipher.from_secret(_key_text(KEY_1))
    assert ring.active_kid == "k1"
    assert ring.kids == ("k1",)
    token = ring.encrypt(TAX_ID, context=CONTEXT)
    assert FieldCipher({"k1": KEY_1}, "k1").decrypt(token, context=CONTEXT) == TAX_ID


def test_from_secret_accepts_padding_and_surrounding_whitespace() -> None:
    padded = base64.urlsafe_b64encode(KEY_1).decode()
    assert padded.endswith("=")
    assert FieldCipher.from_secret(f"  {padded}\n").kids == ("k1",)


def test_from_secret_reads_a_ring_with_the_first_key_active() -> None:
    ring = FieldCipher.from_secret(f"k2:{_key_text(KEY_2)}, k1:{_key_text(KEY_1)}")
    assert ring.active_kid == "k2"
    assert ring.kids == ("k2", "k1")
    old_token = FieldCipher({"k1": KEY_1}, "k1").encrypt(TAX_ID, context=CONTEXT)
    assert ring.decrypt(old_token, context=CONTEXT) == TAX_ID


@pytest.mark.parametrize(
    "secret",
    [
        "",
        "short",
        _key_text(KEY_1)[:-2],
        _key_text(KEY_1) + "AAAA",
        f"k1:{_key_text(KEY_1)},k1:{_key_text(KEY_2)}",
        f"k1:{_key_text(KEY_1)},{_key_text(KEY_2)}",
        f"k1:{_key_text(KEY_1)},k2:not*base64*at*all*but*long*enough*to*look*like*a*key",
        f"bad kid:{_key_text(KEY_1)}",
        f"k1:{_key_text(KEY_1)},",
    ],
)
def test_from_secret_refuses_a_malformed_value_without_echoing_it(secret: str) -> None:
    with pytest.raises(ValueError, match="field encryption key") as raised:
        FieldCipher.from_secret(secret)
    message = str(raised.value)
    for fragment in secret.replace(":", ",").split(","):
        key_text = fragment.strip()
        if len(key_text) > 8:
            assert key_text not in message


def test_generate_key_makes_distinct_usable_keys() -> None:
    first, second = generate_key(), generate_key()
    assert first != second
    assert len(first) == 43
    ring = FieldCipher.from_secret(f"new:{first},old:{second}")
    assert ring.decrypt(ring.encrypt(TAX_ID, context=CONTEXT), context=CONTEXT) == TAX_ID


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("123-45-6789", "***-**-6789"),
        ("123 45 6789", "*** ** 6789"),
        ("12-3456789", "**-***6789"),
        ("123456789", "*****6789"),
        ("123-456789", "******6789"),  # not an SSN or EIN shape: masked like an account number
        ("6789", "****"),
        ("", ""),
    ],
)
def test_mask_tax_id(value: str, masked: str) -> None:
    assert mask_tax_id(value) == masked


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("000123456789", "********6789"),
        ("021000021", "*****0021"),
        ("12345", "*2345"),
        ("1234", "****"),
        ("12", "**"),
        ("", ""),
    ],
)
def test_mask_account_number(value: str, masked: str) -> None:
    assert mask_account_number(value) == masked


@pytest.mark.parametrize(
    ("value", "expected"),
    [("123-45-6789", "6789"), ("12-3456789", "6789"), ("000123456789", "6789"), ("1234", ""), ("12-34", "")],
)
def test_last4(value: str, expected: str) -> None:
    assert last4(value) == expected


def _assert_reveals_at_most_the_last_four(value: str, masked: str, separators: str) -> None:
    assert len(masked) == len(value)
    if len(value) <= 4:
        assert masked == "*" * len(value)
        return
    for position, (original, shown) in enumerate(zip(value, masked, strict=True)):
        if position < len(value) - 4:
            assert shown == "*" or (shown == original and original in separators)
        else:
            assert shown in {"*", original}


tax_id_like = st.one_of(
    st.text(max_size=30),
    st.from_regex(r"[0-9]{3}[- ][0-9]{2}[- ][0-9]{4}|[0-9]{2}[- ][0-9]{7}|[0-9]{9}", fullmatch=True),
)


@given(tax_id_like)
def test_a_masked_tax_id_reveals_no_more_than_its_last_four_characters(value: str) -> None:
    _assert_reveals_at_most_the_last_four(value, mask_tax_id(value), separators="- ")


@given(st.text(max_size=40))
def test_a_masked_account_number_reveals_no_more_than_its_last_four_characters(value: str) -> None:
    _assert_reveals_at_most_the_last_four(value, mask_account_number(value), separators="")
