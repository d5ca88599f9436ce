#!/usr/bin/env python3
"""A TCP relay from the test hosts' bridge to one outside HTTP server (tests/deploy/multi_host.sh).

The hosts of the multi-host test live in network namespaces on a private bridge with no route
out (this machine has no NAT). Their /etc/hosts points deb.debian.org at the bridge address, and
this relay, listening there in the root namespace, passes each connection on unchanged, so apt
on the hosts reaches the real mirror without a proxy setting.

Usage: apt_relay.py LISTEN_ADDRESS LISTEN_PORT TARGET_HOST TARGET_PORT
"""
import socket
import sys
import threading


def pump(source, sink):
    """Copies bytes until either side closes, then closes both (the other pump then ends)."""
    try:
        while True:
            data = source.recv(65536)
            if not data:
                break
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for s in (source, sink):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def serve(client, target):
    try:
        upstream = socket.create_connection(target, timeout=30)
    except OSError as error:
        print(f"apt_relay: cannot reach {target[0]}:{target[1]}: {error}", file=sys.stderr)
        client.close()
        return
    upstream.settimeout(None)
    back = threading.Thread(target=pump, args=(upstream, client), daemon=True)
    back.start()
    pump(client, upstream)
    back.join()
    client.close()
    upstream.close()


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__.strip().splitlines()[-1])
    listen = (sys.argv[1], int(sys.argv[2]))
    target = (sys.argv[3], int(sys.argv[4]))
    server = socket.create_server(listen, reuse_port=False)
    while True:
        client, _ = server.accept()
        threading.Thread(target=serve, args=(client, target), daemon=True).start()


if __name__ == "__main__":
    main()
