"""Channel names and truck id validation."""

from __future__ import annotations

import pytest

from gateway.core.channels import (
    CHANNEL_PREFIX,
    channel_of,
    is_valid_truck_id,
    truck_id_of,
)
from gateway.core.protocol import INVALID_CHANNEL, ProtocolError


@pytest.mark.parametrize(
    "truck_id",
    ["FL-0208", "CO0681", "a", "0", "A_b.c-d", "x" * 64, "9" + "-" * 63],
)
def test_valid_truck_ids(truck_id: str) -> None:
    assert is_valid_truck_id(truck_id)
    assert truck_id_of(channel_of(truck_id)) == truck_id


@pytest.mark.parametrize(
    "truck_id",
    [
        "",
        "x" * 65,
        "-abc",
        "_abc",
        ".abc",
        "FL 0208",
        "FL-0208\n",
        "\nFL-0208",
        "FL-0208\x00",
        "FL/0208",
        "FL:0208",
        "a'b",
        "\uff26\uff2c0208",  # fullwidth letters
        "FL-\uff10\uff12\uff10\uff18",  # fullwidth digits
        "FL-\u0660\u0662",  # Arabic-Indic digits
        "\u041aamaz",  # Cyrillic Ka
        "truck\u212a",  # Kelvin sign, folds to K under IGNORECASE
        "\u00e91",
        "e\u03011",  # combining accent
    ],
)
def test_invalid_truck_ids(truck_id: str) -> None:
    assert not is_valid_truck_id(truck_id)
    with pytest.raises(ProtocolError) as info:
        truck_id_of(CHANNEL_PREFIX + truck_id)
    assert info.value.code == INVALID_CHANNEL


@pytest.mark.parametrize("value", [None, 1, 1.5, b"FL-0208", ["FL-0208"], {"id": "x"}, True])
def test_non_strings_are_not_truck_ids(value: object) -> None:
    assert not is_valid_truck_id(value)


@pytest.mark.parametrize(
    "channel",
    [
        "FL-0208",
        "truck:",
        "Truck:FL-0208",
        "TRUCK:FL-0208",
        " truck:FL-0208",
        "trucks:FL-0208",
        "truck:truck:FL-0208",
        "fleet:FL-0208",
        "truck:FL-0208\n",
        None,
        42,
        b"truck:FL-0208",
        ["truck:FL-0208"],
    ],
)
def test_invalid_channels(channel: object) -> None:
    with pytest.raises(ProtocolError) as info:
        truck_id_of(channel)
    assert info.value.code == INVALID_CHANNEL
    assert info.value.id is None


def test_error_message_does_not_echo_huge_input() -> None:
    with pytest.raises(ProtocolError) as info:
        truck_id_of("truck:" + "x" * 100_000)
    assert len(info.value.message) < 200


def test_channel_of_uses_prefix() -> None:
    assert CHANNEL_PREFIX == "truck:"
    assert channel_of("FL-0208") == "truck:FL-0208"
    assert truck_id_of("truck:FL-0208") == "FL-0208"
