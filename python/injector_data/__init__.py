"""Read smart bone-cement injector recordings into pandas (HOST-6).

Recordings are the JSON Lines written by ``npx injector record`` and
``npx injector archive`` (format: docs/host.md). Live data comes from an MQTT
broker fed by ``npx injector bridge`` (topics: docs/host.md), through paho-mqtt.

    import injector_data as inj
    rec = inj.read_recording("run.jsonl")
    rec.samples            # one row per telemetry sample, t_s from the first line
    rec.events             # transitions, alarms, level records, ...
    rec.pauses()           # start/end/reason of every pause
    inj.live("mqtt://127.0.0.1:1883", seconds=5)   # samples from the broker
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Iterable, Optional
from urllib.parse import urlparse

import pandas as pd

__all__ = ["Recording", "read_recording", "samples_frame", "pauses", "with_breaks", "live", "QUANTITIES"]

#: MDC reference ids of the published quantities (None: no MDC term; see docs/host.md)
QUANTITIES = {
    "volume": {"unit": "mL", "mdc": "MDC_VOL_FLUID_DELIV"},
    "flow": {"unit": "mL/min", "mdc": "MDC_FLOW_FLUID_PUMP"},
    "pressure": {"unit": "Pa", "mdc": None},
    "force": {"unit": "N", "mdc": None},
}

SAMPLE_COLUMNS = ["t_host", "t_dev", "seq", "i", "state", "reason", "level", "cap", "volume",
                  "pressure", "force", "flow", "motor_speed", "fill_fraction", "cement_age",
                  "pauses", "leaks", "flags", "pending"]


@dataclass
class Recording:
    """One recording: samples, events and gap lines as DataFrames.

    ``t_s`` (seconds since the recording's first line) is added to each.
    Lines that are not valid JSON are counted in ``skipped`` and left out."""
    samples: pd.DataFrame
    events: pd.DataFrame
    gaps: pd.DataFrame
    meta: pd.DataFrame
    t0_ms: float
    skipped: int = 0

    def pauses(self) -> pd.DataFrame:
        return pauses(self.samples)

    @property
    def lost_batches(self) -> int:
        if self.gaps.empty or "phase" not in self.gaps:
            return 0
        lost = self.gaps[self.gaps["phase"] == "lost_batches"]
        return int(lost["missing"].sum()) if not lost.empty else 0


def _frame(rows: list, t0: float) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    if not df.empty:
        df["t_s"] = (df["t_host"] - t0) / 1000.0
    return df


def read_recording(path: str) -> Recording:
    """Reads a recording (JSON Lines) into DataFrames."""
    by_type = {"sample": [], "event": [], "gap": [], "meta": []}
    skipped = 0
    t0 = None
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            try:
                v = json.loads(line)
            except ValueError:
                skipped += 1
                continue
            kind = v.get("type") if isinstance(v, dict) else None
            if kind not in by_type or not isinstance(v.get("t_host"), (int, float)):
                skipped += 1
                continue
            if t0 is None:
                t0 = v["t_host"]
            by_type[kind].append(v)
    t0 = t0 or 0.0
    return Recording(
        samples=_frame(by_type["sample"], t0),
        events=_frame(by_type["event"], t0),
        gaps=_frame(by_type["gap"], t0),
        meta=_frame(by_type["meta"], t0),
        t0_ms=t0,
        skipped=skipped,
    )


def pauses(samples: pd.DataFrame) -> pd.DataFrame:
    """Intervals in which the injector was paused: columns start_s, end_s, level, reason.

    Taken from the samples' state (every sample carries it), so a pause
    whose transition event was missed is still found."""
    cols = ["start_s", "end_s", "level", "reason"]
    if samples.empty:
        return pd.DataFrame(columns=cols)
    s = samples  # file order: the order the device sent them in
    paused = s["state"].eq("paused")
    run = (paused != paused.shift()).cumsum()
    out = []
    for _, g in s[paused].groupby(run[paused]):
        out.append({"start_s": g["t_s"].iloc[0], "end_s": g["t_s"].iloc[-1],
                    "level": g["level"].iloc[0], "reason": g["reason"].iloc[0]})
    return pd.DataFrame(out, columns=cols)


def with_breaks(samples: pd.DataFrame, max_gap_s: float = 1.0) -> pd.DataFrame:
    """The samples with an empty row wherever no sample came for ``max_gap_s``,
    so a plotted line breaks over a gap instead of bridging it."""
    if samples.empty:
        return samples
    s = samples.reset_index(drop=True)
    gap = s["t_s"].diff() > max_gap_s
    if not gap.any():
        return s
    parts, start = [], 0
    for i in s.index[gap]:
        parts += [s.iloc[start:i], pd.DataFrame({"t_s": [s["t_s"].iloc[i] - 1e-6]})]
        start = i
    parts.append(s.iloc[start:])
    return pd.concat(parts, ignore_index=True)


def samples_frame(messages: Iterable[dict]) -> pd.DataFrame:
    """Turns bridge ``samples`` messages (one telemetry batch each) into one row per sample.

    Adds ``device``, ``session`` and ``mqtt_seq`` so completeness can be checked:
    within a session, ``mqtt_seq`` counts up by one per message."""
    rows = []
    for m in messages:
        h = m["header"]
        n = len(m["samples"])
        last = h["time"] + (n - 1) * h["period"]
        for i, smp in enumerate(m["samples"]):
            t_dev = h["time"] + i * h["period"]
            row = {k: v for k, v in h.items() if k not in ("time",)}
            row.update(smp)
            row.update({"device": m.get("device"), "session": m["session"], "mqtt_seq": m["seq"],
                        "t_dev": t_dev, "i": i, "t_host": m["rx"] - (last - t_dev)})
            rows.append(row)
    return pd.DataFrame(rows)


def live(url: str, device: Optional[str] = None, seconds: float = 5.0, root: str = "injector") -> pd.DataFrame:
    """Samples published by ``injector bridge`` during ``seconds``, as a DataFrame.

    ``url``: mqtt://host:port. ``device``: one injector's id (default: all)."""
    import paho.mqtt.client as mqtt  # Debian: python3-paho-mqtt

    u = urlparse(url)
    if u.scheme not in ("mqtt", "tcp") or not u.hostname:
        raise ValueError(f"expected mqtt://host:port, got {url!r}")
    got = []

    def on_message(_c, _u, msg):
        parts = msg.topic.split("/")
        try:
            m = json.loads(msg.payload)
        except ValueError:
            return
        m["device"] = parts[1]
        got.append(m)

    # paho-mqtt 2 asks for the callback API version; 1.x (Debian bookworm) has no such argument
    if hasattr(mqtt, "CallbackAPIVersion"):
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION1)
    else:
        client = mqtt.Client()
    client.on_message = on_message
    client.connect(u.hostname, u.port or 1883, keepalive=10)
    client.subscribe(f"{root}/{device or '+'}/samples", qos=1)
    client.loop_start()
    try:
        time.sleep(seconds)
    finally:
        client.loop_stop()
        client.disconnect()
    return samples_frame(got)
