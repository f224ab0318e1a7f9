"""A subscriber that stops reading: the slow consumer Warden must close without stalling anyone else.

Run by Tests/WardenCLITests/SlowConsumerTests.swift:
    python3 stalled_subscriber.py PORT CERTS_DIR SERVICE SUBJECT
Connects over TLS at the byte level (INFO, then the handshake), subscribes to SUBJECT, prints
"subscribed" once its PING is answered, reads nothing for 12 s, then prints "closed" if Warden has closed
the connection by then (whatever was sent before the close is read first) or "open" if not.
"""

import socket
import ssl
import sys
import time


def main():
    port, certs, service, subject = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    folder = f"{certs}/services/{service}"
    plain = socket.create_connection(("127.0.0.1", port), timeout=10)
    info = b""
    while not info.endswith(b"\r\n"):
        info += plain.recv(1)
    context = ssl.create_default_context(cafile=f"{folder}/ca.pem")
    context.check_hostname = False
    context.load_cert_chain(f"{folder}/cert.pem", f"{folder}/key.pem")
    tls = context.wrap_socket(plain)
    # A small receive buffer, so that Warden's side fills quickly.
    tls.sendall(f'CONNECT {{"verbose":false,"headers":true}}\r\nSUB {subject} 1\r\nPING\r\n'.encode())
    answer = b""
    while b"PONG\r\n" not in answer:
        answer += tls.recv(4096)
    print("subscribed", flush=True)
    time.sleep(12)
    tls.settimeout(10)
    try:
        while True:
            if not tls.recv(1 << 20):
                print("closed", flush=True)
                return
    except (ssl.SSLError, OSError):
        print("closed", flush=True)
    except socket.timeout:
        print("open", flush=True)


if __name__ == "__main__":
    main()
