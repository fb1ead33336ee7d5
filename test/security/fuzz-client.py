# A hostile client of the supervisor socket for test/security/fuzz.test.ts. It holds the session
# secret (what a buggy or compromised agent-side process would have) and sends frames WITH file
# descriptors, which Node's `net` cannot do: hence Python's socket.send_fds.
#
#   script mode:  python3 fuzz-client.py script < steps.json   -> one JSON result on stdout
#   fuzz mode:    python3 fuzz-client.py fuzz WORKER FRAMES SEED OUTFILE
#
# Environment: FUZZ_SOCKET, FUZZ_SECRET, FUZZ_PROJECT (the command's cwd), FUZZ_MARKERS (where the
# marker command `touch` writes).
#
# Every descriptor sent is /dev/null, except one "probe" per send: the write end of a pipe whose
# read end this client keeps. After the exchange the client closes its own copy; EOF on the read
# end then proves the supervisor closed (or handed to a command that exited) every copy it got.
# A descriptor leak in the supervisor shows up as a probe without EOF.
import base64
import json
import os
import random
import select
import socket
import struct
import sys
import time

SOCK = os.environ["FUZZ_SOCKET"]
SECRET = os.environ["FUZZ_SECRET"]
PROJECT = os.environ["FUZZ_PROJECT"]
MARKERS = os.environ["FUZZ_MARKERS"]
MAX = 1 << 20


def run_obj(cmd, secret=SECRET, pid=None):
    return {
        "v": 1, "type": "run", "secret": secret, "client_pid": pid or os.getpid(), "cwd": PROJECT,
        "shell_as": None, "argv": ["bash", "-c", cmd], "env": ["PATH=/usr/bin:/bin"],
        "ignored_signals": [],
    }


def header(n):
    return struct.pack("<I", n & 0xFFFFFFFF)


class Exchange:
    """One connection: sends chunks (bytes + how many descriptors), then reads replies."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(SOCK)
        self.probes = []  # read ends
        self.send_error = None

    def send(self, data, nfds=0, probe_at=0, probe=True):
        fds = []
        if nfds:
            for i in range(nfds):
                if probe and i == probe_at % nfds:
                    r, w = os.pipe()
                    self.probes.append(r)
                    fds.append(w)
                else:
                    fds.append(os.open("/dev/null", os.O_RDWR))
        try:
            sent = socket.send_fds(self.sock, [data], fds) if fds else self.sock.send(data)
            if sent < len(data):
                self.sock.sendall(data[sent:])
        except OSError as e:  # the supervisor closed first: EPIPE / ECONNRESET
            self.send_error = self.send_error or type(e).__name__
        for fd in fds:  # ours; the supervisor has its own copies now
            os.close(fd)

    def replies(self, timeout=10.0):
        """Reads until the supervisor closes; returns (replies, end)."""
        buf = b""
        end = "timeout"
        deadline = time.monotonic() + timeout
        self.sock.setblocking(False)
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.sock], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                break
            try:
                d = self.sock.recv(65536)
            except BlockingIOError:
                continue
            except ConnectionResetError:
                end = "reset"
                break
            if not d:
                end = "eof"
                break
            buf += d
        out = []
        while len(buf) >= 4:
            n = struct.unpack("<I", buf[:4])[0]
            if len(buf) < 4 + n:
                break
            try:
                out.append(json.loads(buf[4:4 + n]))
            except ValueError:
                out.append({"unparsable": base64.b64encode(buf[4:4 + n]).decode()})
            buf = buf[4 + n:]
        return out, end

    def close(self):
        self.sock.close()

    def leaks(self, timeout=3.0):
        """Probes whose write end is still open somewhere after `timeout` seconds."""
        leaked = 0
        deadline = time.monotonic() + timeout
        for r in self.probes:
            eof = False
            while not eof:
                left = deadline - time.monotonic()
                ready, _, _ = select.select([r], [], [], max(0.0, left))
                if not ready:
                    break
                eof = os.read(r, 65536) == b""
            leaked += 0 if eof else 1
            os.close(r)
        self.probes = []
        return leaked


def script_mode(spec):
    """Steps: {"b64": bytes, "fds": n, "probe": bool, "sleep": ms before}; then read or close.
    `probe: false` sends only /dev/null (for a command that keeps running and holds its stdio)."""
    x = Exchange()
    for step in spec["steps"]:
        time.sleep(step.get("sleep", 0) / 1000)
        x.send(base64.b64decode(step["b64"]), step.get("fds", 0), step.get("probeAt", 0), step.get("probe", True))
    if spec.get("read", True):
        replies, end = x.replies(spec.get("timeout", 10))
    else:
        replies, end = [], "client-closed"
    x.close()
    print(json.dumps({"replies": replies, "end": end, "sendError": x.send_error, "leaks": x.leaks()}))


# --------------------------------------------------------------------------------------------
# Random frames: mutations of a valid run frame (JSON-level, byte-level, framing-level), random
# descriptor counts, several frames per connection, many connections.
# --------------------------------------------------------------------------------------------
ODD_VALUES = [None, True, False, 0, -1, 1, 2, 2**31, 2**64, 1.5, float("nan"), "", "x", "1",
              "\u0000", "\udcff", "\ud800", "é☃", [], [1], ["a"], [None], {}, {"a": 1}, [[[]]],
              "x" * 300]


def rand_value(r):
    return r.choice(ODD_VALUES)


def mutate_obj(o, r):
    o = dict(o)
    keys = list(o.keys())
    op = r.randrange(9)
    if op == 0 and keys:
        del o[r.choice(keys)]
    elif op == 1 and keys:
        o[r.choice(keys)] = rand_value(r)
    elif op == 2:
        o[r.choice(["extra", "V", "argv ", "__proto__", "constructor", ""])] = rand_value(r)
    elif op == 3:
        o["v"] = r.choice([0, 2, -1, 1.5, "1", None, True, 2**53, 1.0])
    elif op == 4:
        o["type"] = r.choice(["signal", "RUN", "run ", "", "exit", None, 1, "direct"])
    elif op == 5 and isinstance(o.get("secret"), str):
        s = o["secret"]
        o["secret"] = r.choice([s[:-1], s + "0", s.upper(), "", s[:-1] + ("0" if s[-1:] != "0" else "1"),
                                s + "\u0000", s * 2, 5, None])
    elif op == 6 and isinstance(o.get("argv"), list) and o["argv"]:
        a = o["argv"]
        o["argv"] = r.choice([[], ["bash", "-c", "touch a\u0000b"], ["bash", 1], "bash -c x",
                              a + ["extra"], ["sh"] + a[1:], a[:2], a[:-1] + [f"{a[-1]}\udcff"]])
    elif op == 7:
        o["env"] = r.choice([["NOEQUALS"], ["=x"], ["A=\u0000"], [1], "PATH=/bin", ["PATH=/usr/bin:/bin", "B=\udcff"], []])
    else:
        o["ignored_signals"] = r.choice([[0], [65], [9], [-1], ["2"], [2.5], list(range(1, 66)), [13], None])
    return o


TOKENS = [b"\xff", b"\xc0\x80", b"\xed\xa0\x80", b"\xef\xbb\xbf", b"\x00", b"\\u0000", b"\\ud800",
          b"\\udcff", b'"', b"\\", b",", b"{", b"}", b"[", b"]", b":", b"null", b"1e999", b"-0"]


def mutate_bytes(b, r):
    b = bytearray(b)
    for _ in range(r.randrange(1, 4)):
        if not b:
            b = bytearray(r.randbytes(r.randrange(1, 64)))
            continue
        i = r.randrange(len(b))
        op = r.randrange(8)
        if op == 0:
            b[i] ^= 1 << r.randrange(8)
        elif op == 1:
            b[i:i] = r.randbytes(r.randrange(1, 16))
        elif op == 2:
            del b[i:i + r.randrange(1, 32)]
        elif op == 3:
            b[i:i] = b[i:i + r.randrange(1, 64)]
        elif op == 4:
            del b[i:]
        elif op == 5:
            b[i:i] = r.choice(TOKENS)
        elif op == 6:
            b[i:i] = r.choice([b" ", b"\t", b"\n", b"\r"])  # JSON whitespace: may stay valid
        else:
            digits = [k for k, c in enumerate(b) if 48 <= c <= 57]
            if digits:
                b[r.choice(digits)] = r.randrange(48, 58)
    return bytes(b)


def gen_frame(r, tag):
    marker = f"{MARKERS}/{tag}-{r.getrandbits(32):08x}"
    if r.random() < 0.05:
        obj = {"v": 1, "type": "signal", "signal": r.choice([2, 15, 0, 65, "2"])}
    else:
        # A fixed client_pid (it is informational): the same seed then gives the same frames.
        obj = run_obj(f"touch {marker}", SECRET if r.random() < 0.8 else SECRET[:-1] + "x", 4242)
    if r.random() < 0.85:
        for _ in range(r.randrange(1, 3)):
            obj = mutate_obj(obj, r)
    payload = json.dumps(obj, ensure_ascii=r.random() < 0.5, allow_nan=True).encode("utf-8", "surrogatepass")
    if r.random() < 0.5:
        payload = mutate_bytes(payload, r)
    if r.random() < 0.02:
        payload = r.randbytes(r.randrange(0, 65536))
    n = len(payload)
    if r.random() < 0.1:
        n = r.choice([0, max(0, n - 1), n + 1, n + r.randrange(1, 1000), MAX, MAX + 1, 0xFFFFFFFF,
                      r.getrandbits(32), r.randrange(0, 64)])
    return header(n) + payload


def first_frame(stream):
    """What the supervisor would take as the first frame: (payload or None, end offset, state)."""
    if len(stream) < 4:
        return None, None, "incomplete"
    n = struct.unpack("<I", stream[:4])[0]
    if n > MAX:
        return None, None, "oversized"
    if len(stream) < 4 + n:
        return None, None, "incomplete"
    return stream[4:4 + n], 4 + n, "complete"


def fuzz_mode(worker, total, seed, outfile):
    r = random.Random(f"{seed}-{worker}")
    sent = 0
    conn = 0
    with open(outfile, "w") as out:
        while sent < total:
            conn += 1
            nframes = 1 if r.random() < 0.5 else r.randrange(2, 21)
            nframes = min(nframes, total - sent)
            stream = b"".join(gen_frame(r, f"w{worker}-c{conn}-f{k}") for k in range(nframes))
            sent += nframes
            # Chunks: mostly one send; sometimes split anywhere. Descriptors go with the first
            # chunk only (as nono-shell sends them), so which frame they belong to is certain.
            cuts = sorted({r.randrange(1, len(stream)) for _ in range(r.randrange(1, 5))}) if len(stream) > 1 and r.random() < 0.3 else []
            bounds = [0] + cuts + [len(stream)]
            nfds = r.choices([3, 0, 1, 2, 4, 5, 8, 9], weights=[50, 10, 5, 5, 8, 8, 7, 7])[0]
            payload, end_off, state = first_frame(stream)
            x = Exchange()
            for k in range(len(bounds) - 1):
                x.send(stream[bounds[k]:bounds[k + 1]], nfds if k == 0 else 0, r.randrange(8))
                if x.send_error:
                    break
            if state == "incomplete":
                # The supervisor must wait for the rest; the client goes away mid-frame instead.
                replies, end = [], "client-closed"
            else:
                replies, end = x.replies(10.0)
            x.close()
            out.write(json.dumps({
                "worker": worker, "conn": conn, "frames": nframes, "bytes": len(stream),
                "state": state, "first": base64.b64encode(payload).decode() if payload is not None else None,
                "firstFds": nfds, "chunks": len(bounds) - 1, "replies": replies, "end": end,
                "sendError": x.send_error, "leaks": x.leaks(),
            }) + "\n")


if __name__ == "__main__":
    if sys.argv[1] == "script":
        script_mode(json.load(sys.stdin))
    else:
        fuzz_mode(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5])
