"""Control connection between the client (OBS side / live mode) and the worker (standard library only).

Transport: ``multiprocessing.connection`` on a Unix socket inside a private 0700 directory (a
named pipe on Windows), authenticated with a random 32-byte key. The client listens; the worker
it starts connects. Messages are JSON objects sent with ``send_bytes`` -- never pickle -- and read
with ``recv_bytes(MAX_MESSAGE)``, so an oversized message is refused.

Message types (field ``type``):

* ``hello``   both ways first: ``protocol`` (``obs_faceswap.PROTOCOL_VERSION``), ``pid``, ``version``.
* ``open_channel`` client->worker: ``channel`` (int), ``kind`` ('video'|'audio'), ``shm`` (segment
  name), ``settings`` (dict), ``processor`` ('face'|'noop'|'invert'|'standin' for video,
  'voice'|'noop' for audio). Sent again with a new ``shm`` when a video channel is reallocated.
* ``close_channel`` client->worker: ``channel``.
* ``settings`` client->worker: ``channel``, ``settings`` (partial dict; applied live).
* ``stats`` worker->client: ``channels`` {id: {...}}; ``heartbeat`` both ways: ``t``.
* ``shutdown`` client->worker. ``error`` either way: ``message``, optional ``channel``, ``fatal``.

Wake-ups ride on the same connection as 5-byte binary messages (``b'W'`` + channel id, u32):
'wake up, there is input' to the worker and 'a result is ready' to the client.
"""

from __future__ import annotations

import json
import os
import secrets
import struct
import sys
import tempfile
from multiprocessing.connection import Connection
from typing import Any

from obs_faceswap.errors import ProtocolError

MAX_MESSAGE = 1 << 20  # 1 MiB: settings, stats and errors are far smaller
MAX_CHANNEL_ID = (1 << 32) - 1  # wake-ups carry the id as u32
WAKE = b"W"
MESSAGE_TYPES = frozenset({"hello", "open_channel", "close_channel", "settings", "stats", "heartbeat",
                           "shutdown", "error", "log"})
AUTHKEY_ENV = "OBS_FACESWAP_AUTHKEY"


def new_authkey() -> bytes:
    return secrets.token_bytes(32)


def new_address() -> tuple[str, str, str | None]:
    """(address, family, private directory or None) for a fresh listener."""
    if sys.platform == "win32":
        return r"\\.\pipe\obs-faceswap-" + secrets.token_hex(12), "AF_PIPE", None
    d = tempfile.mkdtemp(prefix="obs-faceswap-")
    os.chmod(d, 0o700)
    return os.path.join(d, "control.sock"), "AF_UNIX", d


def encode(msg: dict[str, Any]) -> bytes:
    return json.dumps(msg, separators=(",", ":"), default=str).encode("utf-8")


def decode(data: bytes) -> dict[str, Any]:
    """Parse one JSON control message; ``ProtocolError`` for anything else."""
    try:
        msg = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ProtocolError(f"malformed control message ({len(data)} bytes): {exc}") from None
    except RecursionError:
        raise ProtocolError(f"malformed control message ({len(data)} bytes): nested too deeply") from None
    if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
        raise ProtocolError("malformed control message: not a JSON object with a 'type'")
    if msg["type"] not in MESSAGE_TYPES:
        raise ProtocolError(f"unknown control message type {msg['type']!r}")
    return msg


def channel_id(value: Any) -> int:
    """A message's ``channel`` field as a channel id; ``ValueError`` for anything but a whole number
    in 0 … 2^32−1 (JSON also allows ``1e400``, ``Infinity``, ``true``, strings)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_CHANNEL_ID:
        raise ValueError(f"channel must be a whole number from 0 to {MAX_CHANNEL_ID}, not {str(value)[:40]!r}")
    return value


def wake_message(channel: int) -> bytes:
    return WAKE + struct.pack("<I", channel)


def parse_wake(data: bytes) -> int | None:
    if len(data) == 5 and data[:1] == WAKE:
        return struct.unpack("<I", data[1:])[0]
    return None


def send(conn: Connection, msg: dict[str, Any]) -> None:
    data = encode(msg)
    if len(data) > MAX_MESSAGE:
        raise ProtocolError(f"control message too large ({len(data)} bytes > {MAX_MESSAGE})")
    conn.send_bytes(data)


def receive(conn: Connection) -> dict[str, Any] | int:
    """One message: a dict, or an int channel id for a wake-up. ``ProtocolError`` for a malformed or
    oversized message (after an oversized one the connection is closed), ``EOFError`` at the end."""
    try:
        data = conn.recv_bytes(MAX_MESSAGE)
    except OSError as exc:
        if "bad message length" in str(exc):
            conn.close()  # the rest of that message is still in the stream: it cannot be trusted
            raise ProtocolError(f"control message larger than {MAX_MESSAGE} bytes refused") from None
        raise EOFError(str(exc)) from None
    wake = parse_wake(data)
    if wake is not None:
        return wake
    return decode(data)


def check_hello(msg: dict[str, Any], expected_protocol: int, peer: str) -> None:
    if msg.get("type") != "hello":
        raise ProtocolError(f"the {peer} did not start with hello (got {msg.get('type')!r})")
    got = msg.get("protocol")
    if got != expected_protocol:
        raise ProtocolError(
            f"the {peer} speaks protocol {got!r}, this side {expected_protocol}: the OBS script and the "
            "worker come from different obs-faceswap versions. Re-run the installer so both match.")
