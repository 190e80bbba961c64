"""Ids, folders, CSV dialects, lookalike columns, configs and the in-memory seam."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from archetype.errors import DataError, UserError
from archetype.events import EventsConfig, canonicalize_frame, read_events
from archetype.features import FeatureConfig, compute_features

AS_OF = dt.date(2026, 3, 31)


def test_csv_ids_keep_leading_zeros(tmp_path):
    (tmp_path / "e.csv").write_text(
        "customer_id,ts,event_type,amount\n"
        "00001,2026-03-01,purchase,5\n"
        "1,2026-03-02,purchase,7\n"
        "A-7,2026-03-03,purchase,1\n"
        "00001,2026-03-04,purchase,2\n"
    )
    feats, _ = compute_features(tmp_path / "e.csv", AS_OF)
    assert feats["customer_id"].dtype == pl.String
    got = dict(zip(feats["customer_id"], feats["total_spend"], strict=True))
    assert got == {"00001": 7.0, "1": 7.0, "A-7": 1.0}  # one string id space
    # asked for integers, numeric text becomes one integer id (and text ids are refused)
    with pytest.raises(
        DataError,
        match="customer ids that are not integers, first bad value 'A-7' at row 3.*--id-dtype str",
    ):
        read_events(tmp_path / "e.csv", EventsConfig(id_dtype="int"), as_of=AS_OF)


def test_parquet_integer_ids_stay_integer(tmp_path):
    pl.DataFrame({"customer_id": [7, 8], "ts": [dt.datetime(2026, 3, 1)] * 2}).write_parquet(
        tmp_path / "i.parquet"
    )
    got = read_events(tmp_path / "i.parquet", as_of=AS_OF).lazy.collect()
    assert got["customer_id"].dtype == pl.Int64
    as_text = read_events(tmp_path / "i.parquet", EventsConfig(id_dtype="str"), as_of=AS_OF)
    assert as_text.lazy.collect()["customer_id"].dtype == pl.String


@pytest.mark.parametrize("hive", [False, True])
def test_parquet_files_with_integer_and_text_ids_make_one_text_id_space(tmp_path, hive):
    """A log whose older files hold integer ids and newer ones text ids (a system
    migration): refused by default with the fix in the message; with --id-dtype str every
    file's ids are read as text and the features equal those of the same log written with
    text ids throughout."""
    ts = [dt.datetime(2026, 3, 1), dt.datetime(2026, 3, 2)]
    parts = [
        pl.DataFrame({"customer_id": [1, 2], "ts": ts, "event_id": [10, 11]}),
        pl.DataFrame({"customer_id": ["00001", "1"], "ts": ts, "event_id": ["x", "12"]}),
    ]
    mixed, text = tmp_path / "mixed", tmp_path / "text"
    for i, part in enumerate(parts):
        part = part.with_columns(event_type=pl.lit("purchase"), amount=pl.lit(float(i + 1)))
        sub = f"date=2026-03-0{i + 1}" if hive else ""
        for root, frame in (
            (mixed, part),
            (
                text,
                part.with_columns(pl.all().exclude("ts", "event_type", "amount").cast(pl.String)),
            ),
        ):
            (root / sub).mkdir(parents=True, exist_ok=True)
            frame.write_parquet(root / sub / f"p{i}.parquet")
    with pytest.raises(DataError, match=r"is String here but Int64.*pass --id-dtype str"):
        compute_features(mixed, AS_OF)
    cfg = EventsConfig(id_dtype="str")
    got, _ = compute_features(mixed, AS_OF, events_config=cfg)
    want, _ = compute_features(text, AS_OF, events_config=cfg)
    assert_frame_equal(got, want)
    spend = dict(zip(got["customer_id"], got["total_spend"], strict=True))
    assert spend == {"1": 1.0 + 2.0, "2": 1.0, "00001": 2.0}  # "1" in both files: one id


def test_mixed_folder_is_refused_naming_both_kinds(tmp_path):
    d = tmp_path / "logs"
    d.mkdir()
    pl.DataFrame({"customer_id": [1], "ts": [dt.datetime(2026, 3, 1)]}).write_parquet(
        d / "a.parquet"
    )
    (d / "b.csv").write_text("customer_id,ts\n2,2026-03-02\n")
    (d / "_SUCCESS").write_text("")
    with pytest.raises(
        UserError,
        match=r"logs: holds both Parquet \(1 files, e.g. a.parquet\) "
        r"and CSV \(1 files, e.g. b.csv\)",
    ):
        read_events(d, as_of=AS_OF)
    only_csv = read_events(d, EventsConfig(format="csv"), as_of=AS_OF)
    assert only_csv.lazy.collect()["customer_id"].to_list() == ["2"]
    only_pq = read_events(d, EventsConfig(format="parquet"), as_of=AS_OF)
    assert only_pq.lazy.collect()["customer_id"].to_list() == [1]


def test_csv_files_must_share_a_header(tmp_path):
    d = tmp_path / "logs"
    d.mkdir()
    (d / "a.csv").write_text("customer_id,ts\n1,2026-03-01\n")
    (d / "b.csv").write_text("user,ts\n2,2026-03-02\n")
    with pytest.raises(
        UserError,
        match=r"b\.csv: has columns user, ts but a\.csv has "
        "customer_id, ts",
    ):
        read_events(d, as_of=AS_OF)


def test_semicolon_export(tmp_path):
    (tmp_path / "e.csv").write_text(
        "kunde;zeit;betrag\n0042;04.03.2026 10:15;74,92\n0042;05.03.2026 09:00;1.234,50\n"
    )
    cfg = EventsConfig(
        columns={"customer_id": "kunde", "ts": "zeit", "amount": "betrag"},
        csv_separator=";",
        decimal_comma=True,
        timestamp_format="%d.%m.%Y %H:%M",
        timezone="Europe/Berlin",
    )
    got = read_events(tmp_path / "e.csv", cfg, as_of=AS_OF).lazy.collect().sort("ts")
    assert got["customer_id"].to_list() == ["0042", "0042"]
    assert got["amount"].to_list() == [74.92, 1234.5]
    assert got["ts"].to_list() == [dt.datetime(2026, 3, 4, 10, 15), dt.datetime(2026, 3, 5, 9)]


def test_unmapped_event_type_lookalike_is_warned_about(tmp_path, caplog):
    pl.DataFrame(
        {
            "customer_id": [1, 1],
            "ts": [dt.datetime(2026, 3, 1)] * 2,
            "action": ["page_view", "order"],
        }
    ).write_parquet(tmp_path / "w.parquet")
    with caplog.at_level("WARNING"):
        s = read_events(tmp_path / "w.parquet", as_of=AS_OF)
    assert s.report.transaction_only
    assert "column 'action' looks like one" in caplog.text
    assert "--column event_type=action" in s.report.warnings[0]
    quiet = read_events(tmp_path / "w.parquet", EventsConfig(transaction_only=True), as_of=AS_OF)
    assert quiet.report.warnings == []


def test_events_config_errors_name_table_key_and_type():
    cases = [
        ({"timezone": "Mars/Base"}, "[events] timezone = 'Mars/Base': not an IANA time zone"),
        ({"timestamp_unit": "h"}, "[events] timestamp_unit = 'h': expected one of 's', 'ms'"),
        ({"on_bad_value": "skip"}, "[events] on_bad_value = 'skip': expected one of 'error'"),
        ({"decimal_comma": "yes"}, "[events] decimal_comma = 'yes': expected true or false"),
        (
            {"columns": {"event_id": 3}},
            "[events.columns] event_id = 3: expected a string or a list",
        ),
        ({"columns": {"ts": ["a", "b"]}}, "only event_id may name several columns"),
        ({"dedup": "exact"}, "[events] has unknown key 'dedup'; known: columns"),
        ({"timestamp_unit": "s", "timestamp_format": "%Y"}, "give timestamp_format"),
    ]
    for body, msg in cases:
        with pytest.raises(UserError) as e:
            EventsConfig.from_dict(body, path="c.toml")
        assert str(e.value).startswith("c.toml: "), e.value
        assert msg in str(e.value), (msg, str(e.value))
        assert "\n" not in str(e.value)


def test_feature_config_errors_and_round_trip():
    with pytest.raises(UserError, match=r"\[features\] max_channels = 'a': expected an integer"):
        FeatureConfig.from_dict({"max_channels": "a"})
    with pytest.raises(
        UserError,
        match=r"\[features.family_weights\] rfm = -1: expected a "
        r"value >= 0",
    ):
        FeatureConfig.from_dict({"family_weights": {"rfm": -1}})
    with pytest.raises(UserError, match=r"\[features\] pca_components = 0"):
        FeatureConfig(pca_components=0)  # the constructor says the same
    cfg = FeatureConfig.from_dict({"winsorize": False, "channels": ["web"]})
    assert cfg.winsorize is None and FeatureConfig.from_dict(cfg.to_dict()) == cfg
    ev = EventsConfig(columns={"event_id": ["o", "l"]}, dedupe="exact", timezone="Asia/Tokyo")
    assert EventsConfig.from_dict(ev.to_dict()) == ev
    assert ev.merged({"ts": "when"}, None, dedupe=None).dedupe == "exact"


def test_canonicalize_frame_matches_the_batch_reader(tmp_path):
    df = pl.DataFrame(
        {
            "uid": ["007", "007", "008", None, "009"],
            "when": [
                "2026-03-01T10:00:00+01:00",
                "2026-03-02T10:00:00Z",
                "2026-03-02",
                "2026-03-03",
                "2026-03-04",
            ],
            "what": ["pdp", "buy", "buy", "buy", "wishlist"],
            "price": ["", "€12.50", "3", "1", ""],
            "msg": ["m1", "m2", "m3", "m4", "m5"],
        }
    )
    cfg = EventsConfig(
        columns={
            "customer_id": "uid",
            "ts": "when",
            "event_type": "what",
            "amount": "price",
            "event_id": "msg",
        },
        event_types={"pdp": "view", "buy": "purchase"},
        timezone="Europe/Paris",
    )
    frame, report = canonicalize_frame(df, cfg, source="POST /events #1")
    df.write_csv(tmp_path / "e.csv")
    batch = read_events(tmp_path / "e.csv", cfg, as_of=AS_OF)
    assert_frame_equal(frame, batch.lazy_with_duplicates.collect())
    assert (report.null_customer_ids, report.unknown_event_types, report.rows_used) == (1, 1, 3)
    assert report.unknown_event_values == ["wishlist"]
    assert frame["ts"].to_list()[0] == dt.datetime(2026, 3, 1, 10, 0)  # Paris wall time
    bad = df.with_columns(pl.lit("12,5").alias("price"))
    with pytest.raises(
        DataError,
        match=r"POST /events #1: column 'price': 5 amount values .* "
        r"first bad value '12,5' at row 1",
    ):
        canonicalize_frame(bad, cfg, source="POST /events #1")


def test_parquet_files_with_different_id_types_are_named(tmp_path):
    d = tmp_path / "mix"
    d.mkdir()
    t = [dt.datetime(2026, 3, 1)] * 2
    pl.DataFrame({"customer_id": [1, 2], "ts": t}).write_parquet(d / "a.parquet")
    pl.DataFrame({"customer_id": ["x", "2"], "ts": t}).write_parquet(d / "b.parquet")
    with pytest.raises(
        DataError,
        match=r"b\.parquet: column 'customer_id': is String here but "
        r"Int64 in a\.parquet",
    ):
        read_events(d, as_of=AS_OF)
