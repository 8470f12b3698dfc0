#!/usr/bin/env python3
"""Device change -> platform subscriber latency, sampled without a process
start inside the measured interval.

The benches used to stamp t0 with `$(date)`, then start `gridgw-sim ctl` (a
process start, a socket connect) to change the value, and stamp each
arrival with another `$(date)` fork: under the CPU load of a flood those
process starts are part of the figure. Here the change goes over one
persistent connection to gridgw-sim's control socket, stamped right before
the line is sent, and each event is stamped as this process reads it from
one long-running mosquitto_sub.

  alarm_sampler.py --sock SIM.sock --port BROKER_PORT --topic TOPIC \
      --device s1 --point alarm --samples N [--timeout 10]

Prints one line per sample: latency in µs, or "lost" when no event came
within --timeout seconds. Alarm and clear alternate, starting with 1, at a
random phase (0-0.89 s) against the poll. Exit 2 when the control socket or
the subscription cannot be set up.
"""
import argparse
import os
import queue
import random
import socket
import subprocess
import sys
import threading
import time


def read_events(sub, topic, probe, events, subscribed):
    """Stamps every message on `topic` as it arrives (mosquitto_sub -v: one
    "TOPIC PAYLOAD" line each); one on `probe` says the subscription is up."""
    for line in sub.stdout:
        now = time.time_ns()
        t = line.split(" ", 1)[0]
        if t == topic:
            events.put(now)
        elif t == probe:
            subscribed.set()


def wait_subscribed(port, probe, subscribed):
    """mosquitto_sub says nothing when its SUBACK comes: publish a probe on
    a topic of its own until it is seen."""
    for _ in range(20):
        subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-t", probe, "-m", "probe"],
                       check=False)
        if subscribed.wait(0.5):
            return True
    return False


def send_line(ctl, reader, line):
    ctl.sendall((line + "\n").encode())
    reply = reader.readline()
    if not reply.startswith("ok"):
        raise RuntimeError(f"gridgw-sim refused '{line}': {reply.strip()}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sock", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--device", required=True)
    ap.add_argument("--point", required=True)
    ap.add_argument("--samples", type=int, required=True)
    ap.add_argument("--timeout", type=float, default=10.0)
    a = ap.parse_args()

    probe = f"alarm_sampler/probe/{os.getpid()}"
    sub = subprocess.Popen(["stdbuf", "-oL", "mosquitto_sub", "-v", "-h", "127.0.0.1", "-p", str(a.port),
                            "-q", "1", "-t", a.topic, "-t", probe], stdout=subprocess.PIPE, text=True, bufsize=1)
    events, subscribed = queue.Queue(), threading.Event()
    threading.Thread(target=read_events, args=(sub, a.topic, probe, events, subscribed), daemon=True).start()
    try:
        if not wait_subscribed(a.port, probe, subscribed):
            print("alarm_sampler: no SUBACK from the platform broker", file=sys.stderr)
            return 2
        ctl = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        ctl.connect(a.sock)
        reader = ctl.makefile("r")
        for i in range(a.samples):
            value = (i + 1) % 2
            time.sleep(random.randrange(90) / 100)  # random phase against the poll
            while not events.empty():  # a late event of an earlier sample
                events.get_nowait()
            t0 = time.time_ns()
            send_line(ctl, reader, f"set {a.device} {a.point} {value}")
            try:
                t1 = events.get(timeout=a.timeout)
                print((t1 - t0) // 1000, flush=True)
            except queue.Empty:
                print("lost", flush=True)
        return 0
    except (OSError, RuntimeError) as e:
        print(f"alarm_sampler: {e}", file=sys.stderr)
        return 2
    finally:
        sub.terminate()
        sub.wait()


if __name__ == "__main__":
    sys.exit(main())
