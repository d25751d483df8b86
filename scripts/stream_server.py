"""Local live streams for testing and measuring `crosswatch watch` (loopback only, FFmpeg + Python).

FFmpeg cannot serve RTSP to a player by itself (`-rtsp_flags listen` exists only for receiving), so:

- `RtspServer`: an FFmpeg *feeder* plays a clip in a loop in real time and sends it as RTP/H.264
  to a UDP port on 127.0.0.1; a small *relay* process (this file run as a program) is the RTSP
  server: OPTIONS, DESCRIBE (the feeder's SDP), SETUP (RTP interleaved in the RTSP TCP connection),
  PLAY, TEARDOWN, GET_PARAMETER; it forwards the feeder's RTP packets to each playing client from the
  next IDR picture on. The feeder keeps running through cuts, so the clip's timeline goes on like a
  camera's: `cut()` kills the relay (every client connection drops), `restore()` starts it again,
  `pause()` / `resume()` stop and continue it (SIGSTOP / SIGCONT: a stalled stream).
- `HttpTsServer`: `ffmpeg -re ... -f mpegts -listen 1 http://127.0.0.1:PORT/live.ts` (one client;
  the clip starts when the client connects; `cut()` kills it, `restore()` starts it again).
- `GrowingFile`: another process copies an MPEG-TS file into a new file a chunk at a time (a
  recorder writing a file as it goes), with an optional pause.

Every process is started in its own session and killed by its own id (`close()`, also at exit).
Run the relay by hand: `python scripts/stream_server.py relay --port 8554 --rtp-port 5004 --sdp feed.sdp`.
"""

from __future__ import annotations

import argparse
import atexit
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

FFMPEG = os.environ.get("CROSSWATCH_FFMPEG", "ffmpeg")


# -- helpers ----------------------------------------------------------------------------------------
def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 10.0) -> None:
    """Until something accepts TCP connections on 127.0.0.1:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


class _Proc:
    """A child process in its own session, killed with its whole group by its id."""

    _live: set[_Proc] = set()

    def __init__(self, argv: list[str], log: Path | None = None):
        self.argv = argv
        out = open(log, "ab") if log else subprocess.DEVNULL
        self.popen = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True)
        if log:
            out.close()
        _Proc._live.add(self)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def signal(self, sig: int) -> None:
        if self.alive():
            os.killpg(self.popen.pid, sig)

    def kill(self) -> None:
        if self.alive():
            try:
                os.killpg(self.popen.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            self.popen.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL does not wait
            pass
        _Proc._live.discard(self)


@atexit.register
def _kill_leftovers() -> None:
    for p in list(_Proc._live):
        p.kill()


# -- RTSP: feeder + relay ---------------------------------------------------------------------------
class RtspServer:
    """rtsp://127.0.0.1:PORT/live serving `clip` in a loop, in real time; see the module docstring."""

    def __init__(self, clip: Path, workdir: Path, port: int | None = None):
        self.clip = Path(clip)
        self.workdir = Path(workdir)
        self.port = port or free_port()
        self.rtp_port = free_port(socket.SOCK_DGRAM)
        self.sdp = self.workdir / f"feed-{self.port}.sdp"
        self.url = f"rtsp://127.0.0.1:{self.port}/live"
        self.feeder: _Proc | None = None
        self.relay: _Proc | None = None
        self.feeder_started = 0.0  # wall clock when the feeder began playing the clip (its t = 0)

    def start(self) -> RtspServer:
        self.sdp.unlink(missing_ok=True)
        self.feeder = _Proc(
            [
                FFMPEG,
                "-hide_banner",
                "-loglevel",
                "error",
                "-re",
                "-stream_loop",
                "-1",
                "-i",
                str(self.clip),
                "-an",
                "-c:v",
                "copy",
                "-f",
                "rtp",
                "-sdp_file",
                str(self.sdp),
                f"rtp://127.0.0.1:{self.rtp_port}?pkt_size=1316",
            ],
            self.workdir / "feeder.log",
        )
        self.feeder_started = time.time()
        deadline = time.monotonic() + 10
        while not (self.sdp.exists() and self.sdp.stat().st_size > 0):
            if time.monotonic() > deadline or not self.feeder.alive():
                raise RuntimeError(f"ffmpeg feeder did not start (see {self.workdir / 'feeder.log'})")
            time.sleep(0.02)
        self.restore()
        return self

    def restore(self) -> None:
        """Start the relay (again): clients can connect."""
        self.relay = _Proc(
            [
                sys.executable,
                __file__,
                "relay",
                "--port",
                str(self.port),
                "--rtp-port",
                str(self.rtp_port),
                "--sdp",
                str(self.sdp),
            ],
            self.workdir / "relay.log",
        )
        wait_port(self.port)

    def cut(self) -> None:
        """Kill the relay: every client connection drops at once."""
        if self.relay is not None:
            self.relay.kill()

    def pause(self) -> None:
        """Freeze the relay: connections stay open and silent (a stalled stream)."""
        self.relay.signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.relay.signal(signal.SIGCONT)

    def close(self) -> None:
        for p in (self.relay, self.feeder):
            if p is not None:
                p.signal(signal.SIGCONT)
                p.kill()

    def __enter__(self) -> RtspServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()


class HttpTsServer:
    """http://127.0.0.1:PORT/live.ts: FFmpeg's own one-client HTTP server, MPEG-TS in real time."""

    def __init__(self, clip: Path, workdir: Path, port: int | None = None):
        self.clip, self.workdir = Path(clip), Path(workdir)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}/live.ts"
        self.proc: _Proc | None = None

    def start(self) -> HttpTsServer:
        self.proc = _Proc(
            [
                FFMPEG,
                "-hide_banner",
                "-loglevel",
                "error",
                "-re",
                "-stream_loop",
                "-1",
                "-i",
                str(self.clip),
                "-an",
                "-c:v",
                "copy",
                "-f",
                "mpegts",
                "-listen",
                "1",
                self.url,
            ],
            self.workdir / "http.log",
        )
        wait_port_listening(self.port)
        return self

    restore = start

    def cut(self) -> None:
        if self.proc is not None:
            self.proc.kill()

    def close(self) -> None:
        self.cut()

    def __enter__(self) -> HttpTsServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()


def wait_port_listening(port: int, timeout: float = 10.0) -> None:
    """Until a socket listens on the port, without connecting (FFmpeg's -listen 1 serves only the
    first connection): read /proc/net/tcp."""
    deadline = time.monotonic() + timeout
    hexport = f"{port:04X}"
    while time.monotonic() < deadline:
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            try:
                rows = Path(table).read_text().splitlines()[1:]
            except OSError:
                continue
            if any(r.split()[1].endswith(":" + hexport) and r.split()[3] == "0A" for r in rows):
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on port {port} after {timeout} s")


class GrowingFile:
    """Copies `src` (MPEG-TS) to `dst` `chunk` bytes every `every_s` seconds from another process,
    stopping for `pause_s` after `pause_after` bytes: a recorder writing a file as it goes."""

    def __init__(
        self,
        src: Path,
        dst: Path,
        *,
        chunk: int = 32 * 1024,
        every_s: float = 0.05,
        pause_after: int | None = None,
        pause_s: float = 0.0,
    ):
        self.src, self.dst = Path(src), Path(dst)
        self.args = [str(chunk), str(every_s), str(pause_after if pause_after is not None else -1), str(pause_s)]
        self.proc: _Proc | None = None

    def start(self) -> GrowingFile:
        self.dst.unlink(missing_ok=True)
        self.proc = _Proc([sys.executable, __file__, "grow", str(self.src), str(self.dst), *self.args])
        return self

    def wait(self, timeout: float = 60.0) -> int:
        return self.proc.popen.wait(timeout=timeout)

    def close(self) -> None:
        if self.proc is not None:
            self.proc.kill()


def _grow(src: str, dst: str, chunk: int, every_s: float, pause_after: int, pause_s: float) -> None:
    data = Path(src).read_bytes()
    paused = pause_after < 0
    with open(dst, "wb") as f:
        for i in range(0, len(data), chunk):
            if not paused and i >= pause_after:
                paused = True
                time.sleep(pause_s)
            f.write(data[i : i + chunk])
            f.flush()
            time.sleep(every_s)


# -- the relay (runs as its own process) ------------------------------------------------------------
def _rtp_starts_idr(pkt: bytes) -> bool:
    """Does this RTP/H.264 packet begin an IDR picture (or the SPS before one)? RFC 6184 payloads:
    a single NAL unit, STAP-A (24) or the first fragment of an FU-A (28)."""
    if len(pkt) < 14 or pkt[0] >> 6 != 2:
        return False
    off = 12 + 4 * (pkt[0] & 0x0F)
    if pkt[0] & 0x10 and len(pkt) >= off + 4:  # header extension
        off += 4 + 4 * struct.unpack(">H", pkt[off + 2 : off + 4])[0]
    if off >= len(pkt):
        return False
    nal_type = pkt[off] & 0x1F
    if nal_type in (5, 7):
        return True
    if nal_type == 24:
        p = off + 1
        while p + 3 <= len(pkt):
            size = struct.unpack(">H", pkt[p : p + 2])[0]
            if pkt[p + 2] & 0x1F in (5, 7):
                return True
            p += 2 + size
        return False
    if nal_type == 28 and off + 1 < len(pkt):
        fu = pkt[off + 1]
        return bool(fu & 0x80) and (fu & 0x1F) == 5
    return False


def _describe_sdp(sdp: str) -> str:
    out = []
    for line in sdp.strip().splitlines():
        line = line.strip()
        if line.startswith("c="):
            line = "c=IN IP4 0.0.0.0"
        if line.startswith("m=video"):
            parts = line.split()
            parts[1] = "0"
            out += [" ".join(parts), "a=control:streamid=0"]
            continue
        out.append(line)
        if line.startswith("t="):
            out.append("a=control:*")
    return "\r\n".join(out) + "\r\n"


class _Client:
    def __init__(self, conn: socket.socket):
        self.conn = conn
        self.lock = threading.Lock()
        self.playing = False
        self.started = False

    def send(self, data: bytes) -> bool:
        with self.lock:
            try:
                self.conn.sendall(data)
                return True
            except OSError:
                return False

    def offer(self, pkt: bytes) -> bool:
        if not self.playing:
            return True
        if not self.started:
            if not _rtp_starts_idr(pkt):
                return True
            self.started = True
        return self.send(b"$\x00" + struct.pack(">H", len(pkt)) + pkt)


def _relay(port: int, rtp_port: int, sdp_path: str) -> None:
    sdp = _describe_sdp(Path(sdp_path).read_text())
    clients: set[_Client] = set()
    lock = threading.Lock()
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    udp.bind(("127.0.0.1", rtp_port))
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(8)

    def pump() -> None:
        while True:
            pkt = udp.recv(65536)
            with lock:
                for c in list(clients):
                    if not c.offer(pkt):
                        clients.discard(c)

    def serve(c: _Client) -> None:
        buf = b""
        c.conn.settimeout(None)
        try:
            while True:
                data = c.conn.recv(65536)
                if not data:
                    return
                buf += data
                while buf:
                    if buf[:1] == b"$":  # interleaved RTCP from the client: skip
                        if len(buf) < 4:
                            break
                        size = struct.unpack(">H", buf[2:4])[0]
                        if len(buf) < 4 + size:
                            break
                        buf = buf[4 + size :]
                        continue
                    end = buf.find(b"\r\n\r\n")
                    if end < 0:
                        break
                    head = buf[:end].decode("latin-1").split("\r\n")
                    headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in head[1:])}
                    body_len = int(headers.get("content-length", "0"))
                    if len(buf) < end + 4 + body_len:
                        break
                    buf = buf[end + 4 + body_len :]
                    if not _answer(c, head[0], headers):
                        return
        except OSError:
            return
        finally:
            with lock:
                clients.discard(c)
            c.conn.close()

    def _answer(c: _Client, request: str, headers: dict[str, str]) -> bool:
        method, url = (request.split() + ["", ""])[:2]
        extra, body, status = [], b"", "200 OK"
        if method == "OPTIONS":
            extra.append("Public: OPTIONS, DESCRIBE, SETUP, TEARDOWN, PLAY, GET_PARAMETER")
        elif method == "DESCRIBE":
            body = sdp.encode()
            extra += [f"Content-Base: {url.rstrip('/')}/", "Content-Type: application/sdp"]
        elif method == "SETUP":
            if "interleaved" not in headers.get("transport", ""):
                status = "461 Unsupported Transport"
            else:
                extra += ["Transport: RTP/AVP/TCP;unicast;interleaved=0-1", "Session: 5eed1e55;timeout=60"]
        elif method == "PLAY":
            extra += ["Session: 5eed1e55", "Range: npt=0.000-"]
        else:
            extra.append("Session: 5eed1e55")
        lines = [f"RTSP/1.0 {status}", f"CSeq: {headers.get('cseq', '0')}", *extra, f"Content-Length: {len(body)}"]
        if not c.send(("\r\n".join(lines) + "\r\n\r\n").encode() + body):
            return False
        if method == "PLAY":
            c.playing = True
            with lock:
                clients.add(c)
        return method != "TEARDOWN"

    threading.Thread(target=pump, daemon=True).start()
    while True:
        conn, _ = srv.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=serve, args=(_Client(conn),), daemon=True).start()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("relay", help="RTSP server relaying an RTP feed (see the module docstring)")
    r.add_argument("--port", type=int, required=True)
    r.add_argument("--rtp-port", type=int, required=True)
    r.add_argument("--sdp", required=True)
    g = sub.add_parser("grow", help="copy a file into another a chunk at a time")
    g.add_argument("src")
    g.add_argument("dst")
    g.add_argument("chunk", type=int)
    g.add_argument("every_s", type=float)
    g.add_argument("pause_after", type=int)
    g.add_argument("pause_s", type=float)
    a = p.parse_args(argv)
    if a.cmd == "relay":
        _relay(a.port, a.rtp_port, a.sdp)
    else:
        _grow(a.src, a.dst, a.chunk, a.every_s, a.pause_after, a.pause_s)
    return 0


if __name__ == "__main__":
    sys.exit(main())
