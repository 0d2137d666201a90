"""Numbers read from text (cnnctl/values.py): one rule for a layer's argument, a training setting
and a command-line option, so the three never drift apart again (the notation read "far too
large" at 12 digits, the settings at 19, with other words)."""

from __future__ import annotations

import pytest
import typer

from cnnctl.cli.options import nbytes
from cnnctl.layers.args import parse_float, parse_int
from cnnctl.limits import MAX_INT
from cnnctl.values import ArgValueError, TooLarge, number_text, whole_text

NOT_WHOLE = ["1_000", "\u0663", "--3", "+-3", "- 3", "3.0", "", "0x10", "1e3"]
NOT_A_NUMBER = ["1_000", "\u0663", "1,5", "", "0x10", "one"]


@pytest.mark.parametrize("text", NOT_WHOLE)
def test_a_layer_and_a_setting_refuse_the_same_whole_numbers(text):
    for read in (whole_text, parse_int):
        with pytest.raises(ArgValueError, match="expected a whole number|must be a whole number"):
            read(text)


@pytest.mark.parametrize("text", NOT_A_NUMBER)
def test_a_layer_a_setting_and_a_size_refuse_the_same_numbers(text):
    with pytest.raises(ArgValueError, match=f"expected a number, got `{text}`"):
        number_text(text)
    with pytest.raises(ArgValueError, match=f"expected a number, got `{text}`"):
        parse_float(text, 0.0, 1.0)
    with pytest.raises(typer.BadParameter, match="expected a size such as 16GiB"):
        nbytes(text + "GiB")


def test_far_too_large_is_one_rule_and_one_wording():
    huge = "9" * 20  # one digit past the 19 read
    with pytest.raises(TooLarge) as setting:
        whole_text(huge)
    with pytest.raises(TooLarge) as layer:
        parse_int(huge)
    assert str(setting.value) == f"`{huge}` is far too large"
    assert str(layer.value) == f"`{huge}` is far too large (at most {MAX_INT:,})"
    # 15 digits are read by both, then are out of the layer's range: said with the value, not "far"
    with pytest.raises(TooLarge, match=f"999,999,999,999,999 is too large \\(at most {MAX_INT:,}\\)"):
        parse_int("9" * 15)
    assert whole_text("9" * 19) == 10**19 - 1
