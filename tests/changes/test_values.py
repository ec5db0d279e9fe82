"""After-images from the binlog carry exactly the JSON values ``SELECT *`` through the store gives."""

from __future__ import annotations

import random
import struct

from gateway.changes import TableSpec, current_position
from tests.changes.collect import Collector

ODD_TABLE = """
CREATE TABLE odd_types (
    id INT PRIMARY KEY,
    f FLOAT, d DOUBLE, dec_big DECIMAL(30,10), dec_int DECIMAL(10,0),
    tiny TINYINT(1), small_u SMALLINT UNSIGNED, medium MEDIUMINT, int_u INT UNSIGNED, big_u BIGINT UNSIGNED,
    vb VARBINARY(16), bl BLOB, tx TEXT, latin VARCHAR(20) CHARACTER SET latin1, ch CHAR(4),
    bt BIT(10), st SET('a','b','c'), en ENUM('x','y'),
    dt3 DATETIME(3), dt0 DATETIME, dt6 DATETIME(6), ts TIMESTAMP(6) NULL, yr YEAR, tm TIME(2), dd DATE, j JSON
) DEFAULT CHARSET=utf8mb4
"""
ODD_ROWS = [
    "(1, 1.1, 0.1, 12345678901234567890.0123456789, 12345, 1, 65535, -8388608, 4294967295, 18446744073709551615, "
    "x'00ff41', 'h\u00e9llo', 'caf\u00e9 \U0001f69a', 'na\u00efve', 'ab', b'0000000101', 'a,c', 'y', "
    "'2026-01-01 10:00:00.120', '2026-01-01 10:00:00', '2026-01-01 10:00:00.000001', '2026-01-01 10:00:00.5', "
    "2026, '12:34:56.78', '2026-02-03', '{\"a\": [1, 2.5, null]}')",
    "(2, 123456.7, 1e300, -0.0000000001, -5, 0, 0, 0, 0, 0, x'6869', x'ff00fe', '', '', '', b'0', 'b', 'x', "
    "'2026-01-01 10:00:00.000', '1999-12-31 23:59:59', '2026-01-01 10:00:00.000000', '1970-01-01 00:00:01', "
    "0, '-01:00:00', '1000-01-01', '[]')",
    "(3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "
    "NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
]


async def test_every_column_type_matches_the_store(params, db, store, sql, start_reader):
    sql.execute(ODD_TABLE)
    got = Collector()
    start_reader(await current_position(params), got, tables=[TableSpec("odd_types", "id")])
    sql.execute("INSERT INTO odd_types VALUES " + ", ".join(ODD_ROWS))
    sql.execute("UPDATE odd_types SET f = 3.14159274, dt3 = '2030-06-30 23:59:59.999', bt = b'1111111111', "
                "st = 'a,b,c', yr = 1901 WHERE id = 2")
    changes = await got.wait_changes(4)
    stored = {r["id"]: r for r in await store._select("test", "SELECT * FROM odd_types")}
    final = {c.key: c.row for c in changes}  # the update's image replaces row 2's insert
    for key in (1, 2, 3):
        assert final[key] == stored[key], key
    # The values that needed the server's own rendering replayed (FLOAT digits, fraction
    # digits of DATETIME(3), BIT bytes, SET order, YEAR 0000):
    inserted_2 = next(c.row for c in changes if c.key == 2 and c.kind == "insert")
    assert final[1]["f"] == 1.1 and final[2]["f"] == 3.14159
    assert final[1]["dt3"] == "2026-01-01T10:00:00.120Z" and inserted_2["dt3"] == "2026-01-01T10:00:00.000Z"
    assert final[1]["bt"] == "\x00\x05" and final[2]["st"] == "a,b,c"
    assert inserted_2["yr"] == 0 and final[2]["yr"] == 1901

async def test_random_floats_render_as_the_server_prints_them(params, db, store, sql, start_reader):
    sql.execute("CREATE TABLE floats (id INT PRIMARY KEY, f FLOAT, d DOUBLE)")
    got = Collector()
    start_reader(await current_position(params), got, tables=[TableSpec("floats", "id")])
    rng = random.Random(7)
    rows = []
    for n in range(300):
        value = rng.uniform(-1, 1) * 10 ** rng.randint(-30, 30)
        rows.append((n, struct.unpack("<f", struct.pack("<f", value))[0], value))
    sql.executemany("INSERT INTO floats VALUES (%s, %s, %s)", rows)
    changes = await got.wait_changes(300)
    stored = {r["id"]: r for r in await store._select("test", "SELECT * FROM floats")}
    assert {c.key: c.row for c in changes} == stored


async def test_key_only_walk_over_every_column_type(params, db, store, sql, start_reader):
    # Odd ids are watched: even rows are stepped over by the walk, odd ones decoded by the
    # library, and each decoded row checks where the walk said it ends.
    sql.execute(ODD_TABLE)
    got = Collector()
    reader = start_reader(await current_position(params), got, wanted=lambda key: key % 2 == 1,
                          tables=[TableSpec("odd_types", "id", filtered=True)])
    sql.execute("INSERT INTO odd_types VALUES " + ", ".join(ODD_ROWS))
    sql.execute("INSERT INTO odd_types SELECT id + 10, f, d, dec_big, dec_int, tiny, small_u, medium, int_u, big_u, "
                "vb, bl, tx, latin, ch, bt, st, en, dt3, dt0, dt6, ts, yr, tm, dd, j FROM odd_types")
    sql.execute("UPDATE odd_types SET tx = CONCAT(IFNULL(tx, ''), '!'), dt3 = '2031-01-01 00:00:00.5'")
    sql.execute("DELETE FROM odd_types WHERE id IN (2, 3, 12, 13)")
    await got.wait_for(lambda: len(got.batches) == 4)
    stored = {r["id"]: r for r in await store._select("test", "SELECT * FROM odd_types")}
    final: dict = {}
    for change in got.changes:
        final[change.key] = change.row
    assert {k for k in final if final[k] is not None} == {k for k in stored if k % 2 == 1}
    for key, row in final.items():
        assert row == stored.get(key), key
    assert [(c.kind, c.key) for c in got.batches[3].changes] == [("delete", 3), ("delete", 13)]
    assert reader.counters.rows_skipped == 1 + 1 + 2 + 2  # the even rows of each statement
    assert reader.counters.walk_mismatches == 0


async def test_walk_that_disagrees_with_the_library_is_dropped(params, db, store, sql, start_reader, monkeypatch):
    from gateway.changes import rowskip

    real_walk = rowskip.ImageWalker.walk

    def off_by_one(self, data, offset):
        end, key = real_walk(self, data, offset)
        return end + 1, key

    monkeypatch.setattr(rowskip.ImageWalker, "walk", off_by_one)
    got = Collector()
    reader = start_reader(await current_position(params), got, wanted={"W-1"}.__contains__)
    sql.execute(f"INSERT INTO truck_sensors_cache (truck_id, `timestamp`, rpm, updated_at) VALUES "
                f"{', '.join(['(%s, NOW(), 1, NOW())'] * 3)}", ("U-1", "W-1", "U-2"))
    [change] = await got.wait_changes(1)
    assert change.key == "W-1" and change.row == await store.fetch_sensor_row("W-1")
    assert reader.counters.walk_mismatches == 1
    sql.execute("UPDATE truck_sensors_cache SET rpm = 2")  # and it goes on, without walking
    changes = await got.wait_changes(2)
    assert [(c.kind, c.key, c.row["rpm"]) for c in changes] == [("insert", "W-1", 1), ("update", "W-1", 2)]


FAST_TABLE = """
CREATE TABLE fast_types (
    id INT PRIMARY KEY,
    d30 DECIMAL(30,10), d10 DECIMAL(10,0), d5 DECIMAL(5,2), d9 DECIMAL(9,6), d18 DECIMAL(18,9), d1 DECIMAL(4,1),
    i8 TINYINT, u16 SMALLINT UNSIGNED, m MEDIUMINT, mu MEDIUMINT UNSIGNED, b BIGINT, bu BIGINT UNSIGNED,
    dbl DOUBLE, v VARCHAR(300), s VARCHAR(10), l VARCHAR(10) CHARACTER SET latin1,
    dt0 DATETIME, dt1 DATETIME(1), dt3 DATETIME(3), dt6 DATETIME(6)
) DEFAULT CHARSET=utf8mb4
"""


def _random_fast_row(rng: random.Random, key: int) -> tuple:
    def dec(digits: int, scale: int) -> str | None:
        if rng.random() < 0.1:
            return None
        whole = rng.randrange(10 ** (digits - scale)) if rng.random() < 0.8 else 0
        frac = rng.randrange(10 ** scale) if scale else 0
        sign = "-" if rng.random() < 0.4 else ""
        return f"{sign}{whole}.{frac:0{scale}d}" if scale else f"{sign}{whole}"

    def when(fraction_digits: int) -> str:
        micro = rng.choice([0, rng.randrange(10 ** 6)])
        text = f"{rng.randrange(1000, 9999)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d} " \
               f"{rng.randrange(24):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}"
        return text + (f".{micro:06d}"[: fraction_digits + 1] if fraction_digits else "")

    return (key, dec(30, 10), dec(10, 0), dec(5, 2), dec(9, 6), dec(18, 9), dec(4, 1),
            rng.randrange(-128, 128), rng.randrange(65536), rng.randrange(-2 ** 23, 2 ** 23), rng.randrange(2 ** 24),
            rng.randrange(-2 ** 63, 2 ** 63), rng.randrange(2 ** 64), rng.uniform(-1e10, 1e10),
            "".join(rng.choice("aé🚚z ") for _ in range(rng.randrange(0, 290))), rng.choice(["", "x", None]),
            rng.choice(["naïve", "abc", None]), when(0), when(1), when(3), when(6))


async def test_updates_read_by_the_fast_path_match_the_store(params, db, store, sql, start_reader):
    """Updates of wanted rows whose every column type ``rowdecode`` handles skip the library."""
    sql.execute(FAST_TABLE)
    got = Collector()
    reader = start_reader(await current_position(params), got,
                          tables=[TableSpec("fast_types", "id", filtered=True)], wanted=lambda key: True)
    rng = random.Random(11)
    marks = ", ".join(["%s"] * 21)
    sql.executemany(f"INSERT INTO fast_types VALUES ({marks})", [_random_fast_row(rng, k) for k in range(300)])
    await got.wait_changes(300)
    sql.execute("BEGIN")
    for k in range(300):  # every row updated to new random values, in one transaction
        values = _random_fast_row(rng, k)
        columns = ["d30", "d10", "d5", "d9", "d18", "d1", "i8", "u16", "m", "mu", "b", "bu", "dbl", "v", "s", "l",
                   "dt0", "dt1", "dt3", "dt6"]
        sql.execute(f"UPDATE fast_types SET {', '.join(c + ' = %s' for c in columns)} WHERE id = %s",
                    (*values[1:], k))
    sql.execute("COMMIT")
    changes = (await got.wait_changes(600))[300:]
    stored = {r["id"]: r for r in await store._select("test", "SELECT * FROM fast_types")}
    assert {c.key: c.row for c in changes} == stored
    assert reader.counters.decode_mismatches == 0 and reader.counters.walk_mismatches == 0
    assert reader.counters.rows_fast >= 290  # all but the rows checked against the library
