#!/usr/bin/env python3
"""Writes the inputs of the golden rule scenarios about regulatory averages and missing hourly
data (tests/golden/rules/average-*, missing-hour-*): their minute and hourly series are too long
to write by hand. The expected events are checked by hand and kept in each case's
expected.jsonl; rerun this only to change a scenario.

    python3 tools/gen_golden_averages.py tests/golden/rules
"""
import json
import os
import sys

TZ = "+08:00"


def iso(day, h, m=0, s=0):
    return f"2024-10-{day:02d}T{h:02d}:{m:02d}:{s:02d}{TZ}"


def record(mn, st, cn, t, values):
    return {"mn": mn, "st": st, "cn": cn, "data_time": t, "values": values}


def val(code, field, value, flag="N"):
    return {"code": code, "field": field, "value": value, "flag": flag}


def line(at, **kw):
    return json.dumps({"at": at, **kw}, ensure_ascii=False)


def write(root, case, rules, lines, stats):
    d = os.path.join(root, case)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "rules.json"), "w") as f:
        f.write(json.dumps({"rules": rules}, ensure_ascii=False, indent=1) + "\n")
    with open(os.path.join(d, "input.jsonl"), "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(os.path.join(d, "stats.json"), "w") as f:
        f.write(json.dumps(stats) + "\n")


HOURLY_SO2 = {
    "id": "so2-hourly-over", "kind": "threshold", "audience": "officer",
    "select": {"st": ["31"], "data": ["hour"], "field": ["ZsAvg", "Avg"], "pollutants": ["a21026"]},
    "levels": [{"name": "over", "above": 35, "severity": "critical"}],
    "message": {"zh": "{mn}二氧化硫小时均值{value}超标（{time}）"},
}


def minute(mn, day, h, m, so2, flag="N"):
    return record(mn, "31", "2051", iso(day, h, m),
                  [val("a21026", "Avg", so2 * 0.8, flag), val("a21026", "ZsAvg", so2, flag)])


def hourly_from_minutes(root):
    """An hour computed from 50 valid minutes judges over; one with 40 does not; a minute that
    comes after its hour closed is counted, not merged."""
    lines = []
    for m in range(60):  # hour 10: 10 minutes in fault, minute 45 not sent (yet)
        if m == 45:
            continue
        fault = m % 6 == 0
        lines.append(line(iso(1, 10, m, 30), record=minute("F1", 1, 10, m, 200 if fault else 36 + m % 3,
                                                           "D" if fault else "N")))
    for m in range(60):  # hour 11: 20 minutes in maintenance: 40 valid, too few
        maint = m % 3 == 0
        lines.append(line(iso(1, 11, m, 30), record=minute("F1", 1, 11, m, 50, "M" if maint else "N")))
        if m == 10:  # hour 10 has closed (11:10 is past its end by the grace): minute 45 is late
            lines.append(line(iso(1, 11, 10, 40), record=minute("F1", 1, 10, 45, 90)))
    for m in range(11):
        lines.append(line(iso(1, 12, m, 30), record=minute("F1", 1, 12, m, 20)))
    write(root, "average-hourly-from-minutes", [HOURLY_SO2], lines,
          {"averages": 2, "invalid_averages": 2, "late_averages": 2, "superseded": 0})


def used_as_sent(root):
    """The logger's own hourly record wins over the computed one; a computed hour is not judged
    again when the logger sends it later, nor is an hour sent twice."""
    lines = []
    for m in range(60):
        lines.append(line(iso(1, 10, m, 30), record=minute("F2", 1, 10, m, 50)))
    lines.append(line(iso(1, 11, 2), record=record("F2", "31", "2061", iso(1, 10),
                                                   [val("a21026", "ZsAvg", 20)])))
    for m in range(60):
        lines.append(line(iso(1, 11, m, 30), record=minute("F2", 1, 11, m, 50)))
    for m in range(11):
        lines.append(line(iso(1, 12, m, 30), record=minute("F2", 1, 12, m, 50)))
    lines.append(line(iso(1, 12, 15), record=record("F2", "31", "2061", iso(1, 11),
                                                    [val("a21026", "ZsAvg", 20)])))
    lines.append(line(iso(1, 12, 16), record=record("F2", "31", "2061", iso(1, 10),
                                                    [val("a21026", "ZsAvg", 99)])))
    write(root, "average-used-as-sent", [HOURLY_SO2], lines,
          {"averages": 1, "superseded": 1, "duplicates": 2})


def daily_flow_weighted(root):
    """Daily averages from hourly data: wastewater weighted by flow; a day with fewer than 20
    valid hours is not judged."""
    rule = {"id": "cod-daily-over", "kind": "threshold", "audience": "officer",
            "select": {"data": ["day"], "field": "Avg", "pollutants": ["w01018"]},
            "levels": [{"name": "over", "above": 100, "severity": "critical"}],
            "message": {"zh": "{mn}化学需氧量日均值{value}{unit}超标（{time}）"}}
    lines = []
    for h in range(24):
        big = h in (14, 15)  # two hours of strong flow carry most of the day's load
        lines.append(line(iso(1, h, 5), record=record(
            "W1", "32", "2061", iso(1, h),
            [val("w01018", "Avg", 200 if big else 80), val("w00000", "Avg", 100 if big else 10)])))
        lines.append(line(iso(1, h, 6), record=record(
            "W2", "32", "2061", iso(1, h),
            [val("w01018", "Avg", 300, "D" if h < 5 else "N"), val("w00000", "Avg", 10)])))
    for mn in ("W1", "W2"):
        lines.append(line(iso(2, 0, 31), record=record(mn, "32", "2011", iso(2, 0, 30),
                                                       [val("w00000", "Rtd", 10)])))
    write(root, "average-daily-flow-weighted", [rule], lines,
          {"averages": 2, "invalid_averages": 1})


def missing_hour(root):
    """An hourly record missing while the site sends real-time data fires, and the hour sent
    late resolves it (backfilled); a site that stops sending altogether is offline's business."""
    rule = {"id": "hour-missing", "kind": "missing_hour", "audience": "enterprise",
            "levels": [{"name": "hour-missing", "after": "30m", "severity": "warning"}],
            "message": {"zh": "{mn} {time}小时数据缺失，已超过整点{silence}"},
            "resolved_message": {"zh": "{mn}小时数据已到"}}
    lines = []
    for step in range(9 * 6, 14 * 6):  # real time every 10 minutes, 09:00 to 13:50
        h, m = divmod(step * 10, 60)
        rt = [val("a21026", "Rtd", 20)]
        lines.append(line(iso(1, h, m, 20), record=record("H1", "31", "2011", iso(1, h, m), rt)))
        if h < 11:
            lines.append(line(iso(1, h, m, 25), record=record("H2", "31", "2011", iso(1, h, m), rt)))
        if m == 0 and h in (10, 11):  # hour h-1 sent just after it ends; hour 11 is not
            for mn in ("H1", "H2"):
                lines.append(line(iso(1, h, 1), record=record(mn, "31", "2061", iso(1, h - 1),
                                                              [val("a21026", "Avg", 20)])))
        lines.append(line(iso(1, h, m, 40), tick=True))
        if (h, m) == (12, 40):  # the logger resends hour 11
            lines.append(line(iso(1, 12, 45), record=record("H1", "31", "2061", iso(1, 11),
                                                            [val("a21026", "Avg", 20)])))
    write(root, "missing-hour-backfilled", [rule], lines, {"events": 3})


if __name__ == "__main__":
    root = sys.argv[1] if len(sys.argv) > 1 else "tests/golden/rules"
    hourly_from_minutes(root)
    used_as_sent(root)
    daily_flow_weighted(root)
    missing_hour(root)
