import pytest

from residents.my_number import my_number_check_digit, my_number_is_valid


def test_check_digit_follows_the_cabinet_order_formula():
    # Worked by hand: digits 12345678901, weights from the right 2,3,4,5,6,7,2,3,4,5,6.
    # 1*2+0*3+9*4+8*5+7*6+6*7+5*2+4*3+3*4+2*5+1*6 = 212; 212 mod 11 = 3; 11 - 3 = 8.
    assert my_number_check_digit("12345678901") == 8
    assert my_number_is_valid("123456789018")


def test_remainder_zero_or_one_gives_check_digit_zero():
    assert my_number_check_digit("00000000000") == 0  # sum 0 -> remainder 0 -> 0
    assert my_number_check_digit("00000000006") == 0  # 6*2 = 12 -> remainder 1 -> 0
    assert my_number_check_digit("00000000005") == 1  # 5*2 = 10 -> remainder 10 -> 11 - 10
    assert my_number_check_digit("00000000060") == 4  # 6*3 = 18 -> remainder 7 -> 11 - 7


def test_every_wrong_last_digit_is_rejected():
    valid = "123456789018"
    for digit in "0123456789":
        candidate = valid[:11] + digit
        assert my_number_is_valid(candidate) == (digit == "8")


@pytest.mark.parametrize(
    "value",
    ["", "12345678901", "1234567890188", "12345678901a", "１２３４５６７８９０１８", None, 123456789018],
)
def test_malformed_values_are_invalid(value):
    assert not my_number_is_valid(value)
