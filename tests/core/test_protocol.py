"""Client frame parsing (never anything but ProtocolError) and server frame shapes."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.core import protocol as p
from gateway.core.protocol import (
    BAD_REQUEST,
    ERROR_CODES,
    Ping,
    ProtocolError,
    ResumePoint,
    Subscribe,
    Unsubscribe,
    parse_client_frame,
)


def dumps(obj: Any) -> bytes:
    return orjson.dumps(obj)


def encode(value: Any) -> str:
    # orjson refuses ints beyond 64 bits and NaN has no JSON form; build the text by hand
    # so the parser sees exactly those.
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value) if isinstance(value, int) else repr(value).replace("inf", "Infinity")
    if isinstance(value, str):
        return orjson.dumps(value).decode()
    if isinstance(value, list):
        return "[" + ",".join(encode(v) for v in value) + "]"
    return "{" + ",".join(orjson.dumps(k).decode() + ":" + encode(v) for k, v in value.items()) + "}"


def bad(data: str | bytes) -> ProtocolError:
    with pytest.raises(ProtocolError) as info:
        parse_client_frame(data)
    assert info.value.code == BAD_REQUEST
    return info.value


# --- parsing: the happy paths ----------------------------------------------------------


def test_subscribe_with_resume_as_in_spec() -> None:
    frame = (
        '{"op": "subscribe", "id": 1, "channels": ["truck:FL-0208", "truck:CO0681"],'
        ' "resume": {"truck:FL-0208": {"epoch": "8f3a", "seq": 41}}}'
    )
    assert parse_client_frame(frame) == Subscribe(
        id=1,
        channels=("truck:FL-0208", "truck:CO0681"),
        resume={"truck:FL-0208": ResumePoint(epoch="8f3a", seq=41)},
    )


def test_subscribe_bytes_and_str_parse_alike() -> None:
    msg = {"op": "subscribe", "id": 5, "channels": ["truck:A"]}
    expected = Subscribe(id=5, channels=("truck:A",), resume={})
    assert parse_client_frame(dumps(msg)) == expected
    assert parse_client_frame(dumps(msg).decode()) == expected


def test_unsubscribe_and_ping() -> None:
    assert parse_client_frame('{"op":"unsubscribe","id":2,"channels":["truck:CO0681"]}') == (
        Unsubscribe(id=2, channels=("truck:CO0681",))
    )
    assert parse_client_frame('{"op":"ping","id":3}') == Ping(id=3)


def test_duplicate_channels_removed_keeping_order() -> None:
    cmd = parse_client_frame(
        dumps({"op": "subscribe", "id": 1, "channels": ["truck:B", "truck:A", "truck:B", "truck:A"]})
    )
    assert isinstance(cmd, Subscribe)
    assert cmd.channels == ("truck:B", "truck:A")


def test_channels_are_not_validated_by_the_parser() -> None:
    # Per-channel validation happens later so one bad channel lands in ack.errors.
    cmd = parse_client_frame(dumps({"op": "unsubscribe", "id": 1, "channels": ["nope", ""]}))
    assert cmd == Unsubscribe(id=1, channels=("nope", ""))


def test_extra_keys_ignored_and_null_resume_is_absent() -> None:
    msg = {"op": "subscribe", "id": 9, "channels": ["truck:A"], "resume": None, "x": [1]}
    assert parse_client_frame(dumps(msg)) == Subscribe(id=9, channels=("truck:A",), resume={})
    assert parse_client_frame(dumps({"op": "ping", "id": 1, "channels": 7})) == Ping(id=1)


def test_resume_kept_only_for_listed_channels() -> None:
    msg = {
        "op": "subscribe",
        "id": 1,
        "channels": ["truck:A"],
        "resume": {"truck:A": {"epoch": "e", "seq": 0}, "truck:B": {"epoch": "e", "seq": 3}},
    }
    cmd = parse_client_frame(dumps(msg))
    assert isinstance(cmd, Subscribe)
    assert cmd.resume == {"truck:A": ResumePoint(epoch="e", seq=0)}


@pytest.mark.parametrize("msg_id", [0, -1, 2**63 - 1, -(2**63)])
def test_id_range_edges_accepted(msg_id: int) -> None:
    assert parse_client_frame(dumps({"op": "ping", "id": msg_id})) == Ping(id=msg_id)


def test_channel_count_limit_is_inclusive() -> None:
    channels = [f"truck:T{i}" for i in range(p.MAX_CHANNELS_PER_MESSAGE)]
    cmd = parse_client_frame(dumps({"op": "subscribe", "id": 1, "channels": channels}))
    assert isinstance(cmd, Subscribe)
    assert len(cmd.channels) == p.MAX_CHANNELS_PER_MESSAGE


# --- parsing: every bad_request path ---------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"",
        "",
        "not json",
        b"\xff\xfe{}",
        b'{"op": "ping", "id": 1, "x": "\xc3"}',
        "\ud800",
        "NaN",
        '{"op": "ping", "id": NaN}',
        "1e400",
        "[" * 100_000,
        "{" * 100_000,
        '{"a":' * 100_000,
        '{"op": "ping", "id": 1',
        '{"op": "ping", "id": 1}{}',
    ],
)
def test_not_json(data: str | bytes) -> None:
    assert bad(data).id is None


@pytest.mark.parametrize("value", [[], [1], "ping", 1, 1.5, None, True])
def test_not_an_object(value: Any) -> None:
    assert bad(dumps(value)).id is None


@pytest.mark.parametrize(
    "msg_id",
    ["missing", None, "1", 1.0, True, False, [1], {"id": 1}, 2**63, -(2**63) - 1],
)
def test_bad_id(msg_id: Any) -> None:
    msg: dict[str, Any] = {"op": "ping"}
    if msg_id != "missing":
        msg["id"] = msg_id
    assert bad(encode(msg)).id is None


@pytest.mark.parametrize("literal", ["1" * 400, "18446744073709551616", "-" + "9" * 30, "1e5"])
def test_huge_or_float_id_literals(literal: str) -> None:
    assert bad('{"op": "ping", "id": ' + literal + "}").id is None


@pytest.mark.parametrize("op", ["missing", None, "", "PING", "publish", 1, ["ping"], True])
def test_unknown_or_missing_op_carries_id(op: Any) -> None:
    msg: dict[str, Any] = {"id": 77}
    if op != "missing":
        msg["op"] = op
    assert bad(dumps(msg)).id == 77


@pytest.mark.parametrize("op", ["subscribe", "unsubscribe"])
@pytest.mark.parametrize(
    "channels",
    [
        "missing",
        None,
        [],
        "truck:A",
        {"truck:A": 1},
        ["truck:A", 1],
        [None],
        [["truck:A"]],
        ["truck:A"] * (p.MAX_CHANNELS_PER_MESSAGE + 1),
    ],
)
def test_bad_channels_carry_id(op: str, channels: Any) -> None:
    msg: dict[str, Any] = {"op": op, "id": 12}
    if channels != "missing":
        msg["channels"] = channels
    assert bad(dumps(msg)).id == 12


@pytest.mark.parametrize(
    "resume",
    [
        [],
        "x",
        1,
        {"truck:A": None},
        {"truck:A": []},
        {"truck:A": {}},
        {"truck:A": {"epoch": "e"}},
        {"truck:A": {"seq": 1}},
        {"truck:A": {"epoch": 1, "seq": 1}},
        {"truck:A": {"epoch": None, "seq": 1}},
        {"truck:A": {"epoch": "e" * 65, "seq": 1}},
        {"truck:A": {"epoch": "e", "seq": -1}},
        {"truck:A": {"epoch": "e", "seq": 1.0}},
        {"truck:A": {"epoch": "e", "seq": True}},
        {"truck:A": {"epoch": "e", "seq": "1"}},
        # A bad entry is refused even for a channel not being subscribed.
        {"truck:Z": {"epoch": "e", "seq": -5}},
    ],
)
def test_bad_resume_carries_id(resume: Any) -> None:
    msg = {"op": "subscribe", "id": 3, "channels": ["truck:A"], "resume": resume}
    assert bad(dumps(msg)).id == 3


def test_epoch_length_limit_is_inclusive() -> None:
    msg = {
        "op": "subscribe",
        "id": 3,
        "channels": ["truck:A"],
        "resume": {"truck:A": {"epoch": "e" * 64, "seq": 0}},
    }
    cmd = parse_client_frame(dumps(msg))
    assert isinstance(cmd, Subscribe)
    assert cmd.resume["truck:A"] == ResumePoint(epoch="e" * 64, seq=0)


@pytest.mark.parametrize("data", [bytearray(b'{"op":"ping","id":1}'), None, 1, ["x"]])
def test_non_text_input_is_bad_request(data: Any) -> None:
    assert bad(data).id is None


# --- fuzz: nothing but ProtocolError, ever ---------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=10),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4),
    max_leaves=20,
)
# Objects shaped almost like commands reach the deeper checks more often than random JSON.
NEAR_COMMANDS = st.fixed_dictionaries(
    {},
    optional={
        "op": st.sampled_from(["subscribe", "unsubscribe", "ping", "pong"]) | JSON,
        "id": st.integers() | JSON,
        "channels": st.lists(st.text(max_size=12) | JSON, max_size=4) | JSON,
        "resume": st.dictionaries(
            st.text(max_size=12),
            st.fixed_dictionaries({}, optional={"epoch": st.text(max_size=70) | JSON, "seq": st.integers() | JSON}),
            max_size=3,
        )
        | JSON,
    },
)


def check_never_crashes(data: str | bytes) -> None:
    try:
        cmd = parse_client_frame(data)
    except ProtocolError as exc:
        assert exc.code in ERROR_CODES
        assert exc.id is None or type(exc.id) is int
        return
    assert isinstance(cmd, Subscribe | Unsubscribe | Ping)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_fuzz_bytes(data: bytes) -> None:
    check_never_crashes(data)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_fuzz_text(data: str) -> None:
    check_never_crashes(data)


@settings(max_examples=200, deadline=None)
@given(JSON | NEAR_COMMANDS)
def test_fuzz_json_values(value: Any) -> None:
    text = encode(value)
    check_never_crashes(text)
    check_never_crashes(text.encode("utf-8", "surrogatepass"))


@pytest.mark.parametrize(
    "data",
    [
        "[" * 100_000,
        b"[" * 100_000 + b"]" * 100_000,
        '{"op":"ping","id":' + "9" * 100_000 + "}",
        '{"op":"subscribe","id":1,"channels":["truck:A"],"resume":{"truck:A":{"epoch":"e","seq":' + "9" * 5000 + "}}}",
        '{"op":"ping","id":-Infinity}',
    ],
)
def test_hostile_inputs(data: str | bytes) -> None:
    assert bad(data).code == BAD_REQUEST


# --- server frames ---------------------------------------------------------------------


def test_welcome() -> None:
    frame = p.welcome("s-1", 25.0, {"max_frame_bytes": 4096, "max_subscriptions": 100})
    assert isinstance(frame, bytes)
    assert orjson.loads(frame) == {
        "type": "welcome",
        "protocol": 1,
        "session": "s-1",
        "heartbeat_s": 25,
        "limits": {"max_frame_bytes": 4096, "max_subscriptions": 100},
    }
    assert b'"heartbeat_s":25,' in frame
    assert orjson.loads(p.welcome("s", 2.5, {}))["heartbeat_s"] == 2.5


def test_ack_with_channel_error() -> None:
    err = p.channel_error("truck:XX", p.UNKNOWN_TRUCK, "no such truck")
    assert err == {"channel": "truck:XX", "code": "unknown_truck", "message": "no such truck"}
    frame = p.ack(1, "subscribe", ("truck:FL-0208",), [err])
    assert isinstance(frame, bytes)
    assert orjson.loads(frame) == {
        "type": "ack",
        "id": 1,
        "op": "subscribe",
        "ok": ["truck:FL-0208"],
        "errors": [{"channel": "truck:XX", "code": "unknown_truck", "message": "no such truck"}],
    }
    assert orjson.loads(p.ack(2, "unsubscribe", [], []))["errors"] == []


def test_snapshot() -> None:
    data = {"truck_id": "FL-0208", "speed_mph": 61.5, "rpm": 1480, "latitude": None}
    frame = p.snapshot("truck:FL-0208", "8f3a", 41, 1764151234567, data)
    assert isinstance(frame, bytes)
    assert orjson.loads(frame) == {
        "type": "snapshot",
        "channel": "truck:FL-0208",
        "epoch": "8f3a",
        "seq": 41,
        "ts": 1764151234567,
        "data": data,
    }


def test_diff_frame() -> None:
    frame = p.diff_frame("truck:FL-0208", "8f3a", 42, 1764151235570, {"speed_mph": 61.5, "rpm": 1480}, ("x",))
    assert isinstance(frame, bytes)
    assert orjson.loads(frame) == {
        "type": "diff",
        "channel": "truck:FL-0208",
        "epoch": "8f3a",
        "seq": 42,
        "ts": 1764151235570,
        "changed": {"speed_mph": 61.5, "rpm": 1480},
        "removed": ["x"],
    }
    # Type survives the wire: a float that happens to be whole stays a float.
    assert b'"v":1.0' in p.diff_frame("c", "e", 1, 0, {"v": 1.0}, [])


@pytest.mark.parametrize("state", ["live", "stale", "degraded"])
def test_status(state: str) -> None:
    frame = p.status("truck:FL-0208", state, "why")
    assert orjson.loads(frame) == {
        "type": "status",
        "channel": "truck:FL-0208",
        "state": state,
        "reason": "why",
    }


def test_status_rejects_unknown_state() -> None:
    with pytest.raises(ValueError):
        p.status("truck:FL-0208", "dead", "why")


def test_pong() -> None:
    assert orjson.loads(p.pong(3)) == {"type": "pong", "id": 3}


def test_error_frame() -> None:
    assert orjson.loads(p.error(7, "bad_request", "nope")) == {
        "type": "error",
        "id": 7,
        "code": "bad_request",
        "message": "nope",
    }
    assert orjson.loads(p.error(None, "rate_limited", "slow down"))["id"] is None


def test_error_codes_constants() -> None:
    assert (
        {
            p.BAD_REQUEST,
            p.INVALID_CHANNEL,
            p.UNKNOWN_TRUCK,
            p.FORBIDDEN,
            p.TOO_MANY_SUBSCRIPTIONS,
            p.RATE_LIMITED,
        }
        == ERROR_CODES
        == {
            "bad_request",
            "invalid_channel",
            "unknown_truck",
            "forbidden",
            "too_many_subscriptions",
            "rate_limited",
        }
    )


def test_protocol_error_attributes() -> None:
    exc = ProtocolError("forbidden", "not yours", 4)
    assert (exc.code, exc.message, exc.id, str(exc)) == ("forbidden", "not yours", 4, "not yours")
    assert ProtocolError("bad_request", "x").id is None
