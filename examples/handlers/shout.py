#!/usr/bin/env python3
# Example handler for type "shout", written in Python 3 with the standard library only and
# without any Bester library: the whole wire contract (docs/protocol.md §4) in one file.
# It upper-cases data.text and sends it to the users named in data.to.
#
#   alice sends type "shout": {"to":"bob","text":"hello"}
#   bob receives, as type "shout": {"text":"HELLO"}
#
# It is an original-style handler: the socket path is the first argument (or
# BESTER_HANDLER_SOCKET), each connection carries one request frame and gets one reply frame,
# [4-byte little-endian length][UTF-8 JSON]. Unlike the original's test handlers it survives a
# connection that closes without a request, and removes its socket file on SIGTERM/SIGINT.
#
# Run by hand:  python3 examples/handlers/shout.py /tmp/shout.sock
import json
import os
import signal
import socket
import stat
import sys

MAX_REQUEST_BYTES = 1024 * 1024


def socket_path():
    if len(sys.argv) > 1 and sys.argv[1]:
        return sys.argv[1]
    path = os.environ.get("BESTER_HANDLER_SOCKET")
    if not path:
        sys.exit("usage: shout.py SOCKET_PATH (or set BESTER_HANDLER_SOCKET)")
    return path


def recv_exactly(conn, count):
    data = b""
    while len(data) < count:
        chunk = conn.recv(count - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def send_frame(conn, value):
    body = json.dumps(value).encode("utf-8")
    conn.sendall(len(body).to_bytes(4, "little") + body)


def error_reply(message):
    return {"header": {"status": "1", "error": message}, "data": None}


def handle(data):
    if not isinstance(data, dict) or not isinstance(data.get("text"), str):
        return error_reply('shout needs {"to": ..., "text": "..."}')
    to = data.get("to")
    if isinstance(to, str):
        users = [to]
    elif isinstance(to, list):
        users = [u for u in to if isinstance(u, str)]
    else:
        users = []
    if not users:
        return error_reply('"to" must name a user (or a list of users)')
    return {
        "header": {"status": "0", "command": {"type": "sendClients", "data": users}},
        "data": {"text": data["text"].upper()},
    }


def serve_one(conn):
    conn.settimeout(10)
    prefix = recv_exactly(conn, 4)
    if prefix is None:
        return  # a connection that closed without a request (e.g. a readiness probe)
    size = int.from_bytes(prefix, "little")
    if size == 0 or size > MAX_REQUEST_BYTES:
        send_frame(conn, error_reply("request size %d refused" % size))
        return
    body = recv_exactly(conn, size)
    if body is None:
        return
    try:
        data = json.loads(body.decode("utf-8"))
    except ValueError:
        send_frame(conn, error_reply("request is not UTF-8 JSON"))
        return
    send_frame(conn, handle(data))


def remove_stale(path):
    # Only a socket file is removed, and only one nobody accepts on.
    try:
        if not stat.S_ISSOCK(os.lstat(path).st_mode):
            sys.exit("%s exists and is not a socket" % path)
    except FileNotFoundError:
        return
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
        sys.exit("another process is serving %s" % path)
    except OSError:
        os.unlink(path)
    finally:
        probe.close()


def main():
    path = socket_path()
    remove_stale(path)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)

    def stop(signum, frame):
        server.close()
        try:
            if stat.S_ISSOCK(os.lstat(path).st_mode):
                os.unlink(path)
        except OSError:
            pass
        sys.exit(0)

    # Before binding: a SIGTERM as soon as the socket listens still cleans up.
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    server.bind(path)
    os.chmod(path, 0o600)
    server.listen(64)
    print("shout handler listening on " + path, flush=True)
    while True:
        conn = server.accept()[0]
        try:
            serve_one(conn)
        except OSError:
            pass  # the daemon went away mid-request; serve the next one
        finally:
            conn.close()


if __name__ == "__main__":
    main()
