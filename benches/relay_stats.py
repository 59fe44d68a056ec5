#!/usr/bin/env python3
"""Reads a slice of benches/relay.py's RELAY_TRACE and tells where each connection's time went.

    relay_stats.py TRACE RTT_MS FIRST_LINE LAST_LINE

For each connection in lines FIRST_LINE..LAST_LINE (1-based, inclusive) it counts the exchanges
(each change of direction is half a round trip) and splits the rest of the connection's time into
the client's own time (from a chunk's delivery to the client until the client's next chunk) and the
server's (the same, the other way). Prints the medians over the connections:
"exchanges client_ms server_ms span_s". A reply the peer sent before the other side's message was
delivered (both talking at once, as at the version exchange) counts as no time.
"""

import collections
import statistics
import sys


def main():
    path, rtt_ms, first, last = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    delay = rtt_ms / 2000.0
    events = collections.defaultdict(list)
    with open(path) as f:
        for n, line in enumerate(f, start=1):
            if first <= n <= last:
                t, conn, direction, _size = line.split()
                events[conn].append((float(t), direction))
    rows = []
    for chunks in events.values():
        own = {">": 0.0, "<": 0.0}
        last_seen = {}
        turns = 0
        previous = None
        for t, direction in chunks:
            other = "<" if direction == ">" else ">"
            if direction != previous and other in last_seen:
                turns += 1
                own[direction] += max(t - (last_seen[other] + delay), 0.0)
            last_seen[direction] = t
            previous = direction
        rows.append((turns / 2, own[">"] * 1000, own["<"] * 1000, chunks[-1][0] - chunks[0][0]))
    if not rows:
        print("- - - -")
        return
    med = [statistics.median(r[i] for r in rows) for i in range(4)]
    print(f"{med[0]:.1f} {med[1]:.0f} {med[2]:.0f} {med[3]:.3f}")


if __name__ == "__main__":
    main()
