#!/usr/bin/env bash
# Fleet benchmark: a 5-task maintenance playbook against N real OpenSSH servers on loopback, run by
# tended and, as the baseline measured in the same run, by plain OpenSSH (one `ssh` per host running
# the five commands, fanned out with `xargs -P`). Prints median wall time, CPU time and peak memory,
# and tended's ratio to the baseline. Figures are only comparable within one run: the machine is shared.
#
#   bash benches/fleet.sh            # N = 50 and 200, 3 rounds each
#   SIZES="20" ROUNDS=1 bash benches/fleet.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=${SIZES:-"50 200"}
ROUNDS=${ROUNDS:-3}

for need in sshd:openssh-server ssh:openssh-client /usr/bin/time:time; do
    bin=${need%%:*}; pkg=${need##*:}
    if ! command -v "$bin" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$bin" ] && [ ! -x "$bin" ]; then
        echo "missing $bin: apt-get install $pkg" >&2; exit 1
    fi
done
cargo build --release --quiet
TENDED=$PWD/target/release/tended
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
mkdir -p /run/sshd 2>/dev/null || true

ssh-keygen -q -t ed25519 -N '' -f "$work/host_key"
ssh-keygen -q -t ed25519 -N '' -f "$work/client_key"
cp "$work/client_key.pub" "$work/authorized_keys"
echo "[127.0.0.1]:* $(cut -d' ' -f1,2 "$work/host_key.pub")" > "$work/known_hosts"
# The workload's inputs: a backup file and a pending-updates list.
echo backup > "$work/backup.tar"; printf 'openssl 3.0.15-1~deb12u1 3.0.16-1~deb12u1 security\n' > "$work/updates.txt"
# A service account with a plain /bin/sh, as MSPs use: the login shell runs for every command, and a
# heavy interactive .bashrc (pyenv, conda) would otherwise dominate both tools' figures.
user=$(id -un)
if [ "$(id -u)" -eq 0 ]; then
    id tendedbench >/dev/null 2>&1 || useradd --system --shell /bin/sh --home-dir /nonexistent --no-create-home tendedbench
    usermod -p '*' tendedbench   # no password, but not locked: sshd refuses locked accounts
    user=tendedbench
    chmod 755 "$work"; chmod 644 "$work"/backup.tar "$work"/updates.txt
fi
max=$(for n in $SIZES; do echo "$n"; done | sort -n | tail -n 1)
base=$(( 20000 + RANDOM % 20000 ))
for i in $(seq 1 "$max"); do
    port=$((base + i))
    cat > "$work/sshd_$i.conf" <<CONF
ListenAddress 127.0.0.1:$port
HostKey $work/host_key
PidFile none
AuthorizedKeysFile $work/authorized_keys
StrictModes no
UsePAM no
UseDNS no
PermitRootLogin prohibit-password
PasswordAuthentication no
MaxStartups 2000:30:4000
LogLevel ERROR
CONF
    /usr/sbin/sshd -D -f "$work/sshd_$i.conf" -E "$work/sshd.log" & pids+=($!)
done
for i in $(seq 1 "$max"); do
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

# Prints "wall cpu maxrss_kib" of a command.
measure() { /usr/bin/time -q -f "%e %U %S %M" -o "$work/time" "$@" >/dev/null 2>>"$work/err" || true; tail -n 1 "$work/time" | awk '{printf "%s %.2f %s\n", $1, $2 + $3, $4}'; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR + 1) / 2)]}'; }

printf '\n%-6s %-14s %10s %10s %12s   %s\n' N tool wall_s cpu_s peak_MiB "ratio to ssh (wall / cpu / mem)"
for n in $SIZES; do
    { echo "client: bench"; echo "hosts:"; for i in $(seq 1 "$n"); do
        printf '  h%s:\n    address: "127.0.0.1"\n    port: %s\n    user: %s\n    key_file: %s\n' "$i" $((base + i)) "$user" "$work/client_key"
    done; } > "$work/inv_$n.yml"
    seq 1 "$n" | sed "s/^/$((base)) /" | awk '{print $1 + $2}' > "$work/ports_$n"
    rm -f "$work"/t_*.txt "$work"/s_*.txt
    for r in $(seq 1 "$ROUNDS"); do
        # Alternate the order so neither tool always runs on a warmer machine.
        if [ $((r % 2)) -eq 1 ]; then order="tended ssh"; else order="ssh tended"; fi
        for tool in $order; do
            if [ "$tool" = tended ]; then
                measure "$TENDED" run "$work/five.yml" -i "$work/inv_$n.yml" --db "$work/bench_$n.db" --known-hosts "$work/known_hosts" --forks "$n" >> "$work/t_$n.txt"
            else
                measure xargs -P "$n" -I{} ssh -q -o BatchMode=yes -o UserKnownHostsFile="$work/known_hosts" -o StrictHostKeyChecking=yes \
                    -i "$work/client_key" -p {} "$user@127.0.0.1" \
                    "uptime; df -P; echo \$(( \$(date +%s) - \$(stat -c %Y $work/backup.tar) )); cat $work/updates.txt; test -e /run/reboot-required || true" \
                    < "$work/ports_$n" >> "$work/s_$n.txt"
            fi
        done
    done
    for tool in t s; do
        f="$work/${tool}_$n.txt"
        w=$(cut -d' ' -f1 "$f" | median); c=$(cut -d' ' -f2 "$f" | median); m=$(cut -d' ' -f3 "$f" | median)
        eval "${tool}_w=$w ${tool}_c=$c ${tool}_m=$m"
    done
    printf '%-6s %-14s %10s %10s %12.1f   %s\n' "$n" tended "$t_w" "$t_c" "$(echo "$t_m / 1024" | bc -l)" \
        "$(echo "scale=2; $t_w / $s_w" | bc) / $(echo "scale=2; $t_c / $s_c" | bc) / $(echo "scale=2; $t_m / $s_m" | bc)"
    printf '%-6s %-14s %10s %10s %12.1f   %s\n' "$n" "openssh+xargs" "$s_w" "$s_c" "$(echo "$s_m / 1024" | bc -l)" "1 / 1 / 1 (baseline)"
    # A fast run that failed proves nothing: show how tended's last run ended.
    "$TENDED" history --db "$work/bench_$n.db" --last 1 | tail -n 1 | sed 's/^/       tended last run: /'
done
grep -v -e '^$' -e 'Could not chdir' -e '^running ' "$work/err" 2>/dev/null | sort | uniq -c | head -5 || true
