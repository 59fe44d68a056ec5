#!/usr/bin/env bash
# WAN benchmark: N real OpenSSH servers on loopback reached through a delaying TCP relay
# (benches/relay.py holds each chunk for half the round-trip time; the kernel here has no netem),
# the same 5-task playbook as benches/fleet.sh run by tended and by plain OpenSSH (one `ssh` per
# host, curve25519, the five commands in one session), at each RTT. Prints tended's median time
# per host (as it records it, connecting included) and OpenSSH's fan-out wall time, in round trips,
# and tended's against the round trips the protocol needs. From the relay's trace of every chunk
# (benches/relay_stats.py) it also prints, per connection (median), the exchanges counted on the
# wire and where the time between them went: the client's own (tended's, or ssh's) and the
# servers' (sshd's key exchange and login, the commands themselves).
#
#   bash benches/wan.sh                   # N = 10, RTT 50 and 150 ms, 3 rounds
#   N=20 RTTS="150" ROUNDS=1 bash benches/wan.sh
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-10}
RTTS=${RTTS:-"50 150"}
ROUNDS=${ROUNDS:-3}
TASKS=5
for need in sshd:openssh-server ssh:openssh-client python3:python3 bc:bc; do
    bin=${need%%:*}; pkg=${need##*:}
    if ! command -v "$bin" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$bin" ]; then
        echo "missing $bin: apt-get install $pkg" >&2; exit 1
    fi
done
[ -n "${TENDED_BIN:-}" ] || cargo build --profile dist --quiet
TENDED=${TENDED_BIN:-$PWD/target/dist/tended}
work=$(mktemp -d)
pids=()
made_user=
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$work"
    if [ -n "$made_user" ]; then sleep 1; userdel tendedbench 2>/dev/null || true; fi
}
trap cleanup EXIT
mkdir -p /run/sshd 2>/dev/null || true
ssh-keygen -q -t ed25519 -N '' -f "$work/host_key"
ssh-keygen -q -t ed25519 -N '' -f "$work/client_key"
cp "$work/client_key.pub" "$work/authorized_keys"
echo "[127.0.0.1]:* $(cut -d' ' -f1,2 "$work/host_key.pub")" > "$work/known_hosts"
echo backup > "$work/backup.tar"; printf 'openssl 3.0.15-1~deb12u1 3.0.16-1~deb12u1 security\n' > "$work/updates.txt"
user=$(id -un)
if [ "$(id -u)" -eq 0 ]; then
    # A service account with a plain /bin/sh, as in benches/fleet.sh.
    # Created here, removed again on exit (the bench leaves the machine as it found it).
    id tendedbench >/dev/null 2>&1 || { useradd --system --shell /bin/sh --home-dir /nonexistent --no-create-home tendedbench && made_user=1; }
    usermod -p '*' tendedbench
    user=tendedbench
    chmod 755 "$work"; chmod 644 "$work"/backup.tar "$work"/updates.txt
fi
# Ports below the kernel's ephemeral range (sshd's and the relay's).
low=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
base=$(( 10000 + RANDOM % ((low - 10000) / 2 - N - 1) )); relay_base=$(( base + (low - 10000) / 2 ))
for i in $(seq 1 "$N"); do
    cat > "$work/sshd_$i.conf" <<CONF
ListenAddress 127.0.0.1:$((base + i))
HostKey $work/host_key
PidFile none
AuthorizedKeysFile $work/authorized_keys
StrictModes no
UsePAM no
UseDNS no
PasswordAuthentication no
LogLevel ERROR
CONF
    /usr/sbin/sshd -D -f "$work/sshd_$i.conf" -E "$work/sshd.log" & pids+=($!)
done
for i in $(seq 1 "$N"); do
    until (exec 3<>"/dev/tcp/127.0.0.1/$((base + i))") 2>/dev/null; do sleep 0.05; done
done
cat > "$work/five.yml" <<YML
hosts: all
tasks:
  - command: uptime
  - command: df -P
  - shell: echo \$(( \$(date +%s) - \$(stat -c %Y $work/backup.tar) ))
  - command: cat $work/updates.txt
  - shell: test -e /run/reboot-required || true
YML
{ echo "client: wan"; echo "hosts:"; for i in $(seq 1 "$N"); do
    printf '  h%s:\n    address: "127.0.0.1"\n    port: %s\n    user: %s\n    key_file: %s\n' "$i" $((relay_base + i)) "$user" "$work/client_key"
done; } > "$work/inv.yml"
seq 1 "$N" | awk -v b="$relay_base" '{print b + $1}' > "$work/ports"
five="uptime; df -P; echo \$(( \$(date +%s) - \$(stat -c %Y $work/backup.tar) )); cat $work/updates.txt; test -e /run/reboot-required || true"
wall() { local s e; s=$(date +%s.%N); "$@" >"$work/last.out" 2>&1 || { echo "failed: $*" >&2; tail -n 5 "$work/last.out" >&2; }; e=$(date +%s.%N); echo "$e - $s" | bc; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR + 1) / 2)]}'; }
# The round trips the protocol needs for one host: SSH version exchange 1, key exchange 2 (KEXINIT,
# then ECDH with NEWKEYS), the userauth service 1, a signed public-key login 1, opening a session 1,
# starting the remote command 1, then one per task. (The relay's kernel accepts the TCP connection
# at once, so the TCP handshake's round trip is missing for every tool alike.)
needed=$(( 1 + 2 + 1 + 1 + 1 + 1 + TASKS ))
printf '\n%-6s %-16s %8s %12s   %s\n' RTT_ms tool wall_s round_trips "against the $needed the protocol needs (tended)"
for rtt in $RTTS; do
    : > "$work/trace"
    RELAY_TRACE="$work/trace" python3 benches/relay.py "$relay_base" "$base" "$N" "$rtt" > "$work/relay.out" 2>&1 & relay=$!; pids+=($relay)
    until grep -q ready "$work/relay.out" 2>/dev/null; do sleep 0.05; done
    : > "$work/t"; : > "$work/tw"; : > "$work/s"; : > "$work/wire_t"; : > "$work/wire_s"
    # The relay's trace lines a command caused: "exchanges client_ms server_ms span" (medians).
    traced() { local out=$1 from; shift; from=$(( $(wc -l < "$work/trace") + 1 )); "$@"; sleep 0.3
        python3 benches/relay_stats.py "$work/trace" "$rtt" "$from" "$(wc -l < "$work/trace")" >> "$out"; }
    for r in $(seq 1 "$ROUNDS"); do
        traced "$work/wire_t" wall "$TENDED" run "$work/five.yml" -i "$work/inv.yml" --db "$work/wan.db" --known-hosts "$work/known_hosts" >> "$work/tw"
        # Each host's own time, connecting included, as tended records it.
        "$TENDED" show --db "$work/wan.db" --json "$("$TENDED" history --db "$work/wan.db" --json --last 1 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')" |
            python3 -c 'import json,sys
from datetime import datetime
t = lambda s: datetime.fromisoformat(s.replace("Z", "+00:00"))
d = sorted((t(h["ended_at"]) - t(h["started_at"])).total_seconds() for h in json.load(sys.stdin)["hosts"])
print(d[len(d) // 2])' >> "$work/t"
        [ -z "${WAN_DEBUG:-}" ] || "$TENDED" show --db "$work/wan.db" --json "$("$TENDED" history --db "$work/wan.db" --json --last 1 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')" > "$WAN_DEBUG"
        traced "$work/wire_s" wall xargs -P "$N" -I{} ssh -q -o BatchMode=yes -o UserKnownHostsFile="$work/known_hosts" -o StrictHostKeyChecking=yes \
            -o KexAlgorithms=curve25519-sha256 -i "$work/client_key" -p {} "$user@127.0.0.1" "$five" < "$work/ports" >> "$work/s"
    done
    t=$(median < "$work/t"); tw=$(median < "$work/tw"); s=$(median < "$work/s")
    # The round with the median exchanges count stands for the tool's wire figures.
    wt=$(sort -n "$work/wire_t" | awk '{a[NR]=$0} END {print a[int((NR + 1) / 2)]}')
    ws=$(sort -n "$work/wire_s" | awk '{a[NR]=$0} END {print a[int((NR + 1) / 2)]}')
    tr=$(echo "scale=1; $t * 1000 / $rtt" | bc); sr=$(echo "scale=1; $s * 1000 / $rtt" | bc)
    printf '%-6s %-16s %8.2f %12s   %s\n' "$rtt" "tended per host" "$t" "$tr" "$(echo "scale=2; $tr / $needed" | bc)x (whole run, process start and store included: $(printf %.2f "$tw") s)"
    printf '%-6s %-16s %8.2f %12s   %s\n' "$rtt" openssh-c25519 "$s" "$sr" "(five commands in one exec: $(( needed - TASKS + 1 )) needed)"
    for w in "tended:$wt" "openssh-c25519:$ws"; do
        set -- ${w#*:}
        printf '%-6s %-16s on the wire per connection: %s exchanges, the client'"'"'s own time %s ms, the servers'"'"' %s ms\n' "$rtt" "${w%%:*}" "$1" "$2" "$3"
    done
    kill "$relay" 2>/dev/null || true; wait "$relay" 2>/dev/null || true
done
"$TENDED" history --db "$work/wan.db" --last 1 | tail -n 1 | sed 's/^/tended last run: /'
