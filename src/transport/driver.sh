# The tended driver: one POSIX shell per host runs every task of a run, one by one (see driver.rs).
# Nothing is installed on the host; tended sends this text each time it connects.
#
# Requests, one line each on stdin (the marker is random per task; the task cannot know it):
#   R <marker> <lines> <timeout s> <input>   then <lines> lines of shell command. <input>:
#       0  none (/dev/null)
#       1  "D <count>" and that many bytes (or just "E": empty) follow at once, then "E"
#       2  sudo may ask for a password: the task runs in the background with its input on a
#          private pipe, fed by "D <count>" frames as tended decides, "E" ends it, and
#          "K" kills it and everything it started
# A task's stdout and stderr go out as they are written; after the task, stdout gets
# "<marker> <exit code>" and a newline, stderr gets "<marker>". "<marker> x <why>" means the
# driver could not run the task (tended then runs it on a channel of its own).
# Tasks run in the foreground, with the signal dispositions the login shell gave the driver.
T=
command -v timeout >/dev/null 2>&1 && T=timeout
d=
p=
n=0
run() {
    if [ "$b" -gt 0 ] && [ -n "$T" ]; then
        "$T" -s KILL "$b" /bin/sh -c "$cmd"
    else
        /bin/sh -c "$cmd"
    fi
}
done_() {
    printf '%s %s\n' "$m" "$1"
    printf '%s' "$m" >&2
}
k() {
    for s in STOP KILL; do
        ps -A -o pid= -o ppid= 2>/dev/null | awk -v r="$1" '
            { up[$1] = $2 }
            END {
                s[r] = 1
                do { c = 0; for (x in up) if (!(x in s) && (up[x] in s)) { s[x] = 1; c = 1 } } while (c)
                for (x in s) if (x != r) print x
            }' | while read -r x; do kill -"$s" "$x" 2>/dev/null; done
    done
}
printf 'tended-driver 1 %s\n' "${T:-none}"
while IFS=' ' read -r op m a b c; do
    case $op in
    R)
        exec 4>&-
        [ -n "$p" ] && wait "$p" 2>/dev/null
        p=
        cmd=
        i=0
        while [ "$i" -lt "$a" ]; do
            IFS= read -r l || break 2
            if [ "$i" -eq 0 ]; then cmd=$l; else cmd="$cmd
$l"; fi
            i=$((i + 1))
        done
        case $c in
        0)
            run </dev/null
            done_ "$?"
            ;;
        1)
            IFS=' ' read -r op a || break
            if [ "$op" = D ]; then
                # The task may stop reading early: the rest of its input is still taken off.
                head -c "$a" | { run; r=$?; cat >/dev/null; exit "$r"; }
                r=$?
                IFS=' ' read -r op || break
            else
                run </dev/null
                r=$?
            fi
            done_ "$r"
            ;;
        2)
            if [ -z "$d" ]; then
                d=${TMPDIR:-/tmp}/tended-driver.$$
                mkdir -m 700 "$d" 2>/dev/null || d=
            fi
            n=$((n + 1))
            if [ -z "$d" ] || ! mkfifo -m 600 "$d/$n" 2>/dev/null; then
                printf '%s x cannot make a private pipe for the task input in %s\n' "$m" "${TMPDIR:-/tmp}"
                printf '%s' "$m" >&2
                continue
            fi
            { run <"$d/$n"; done_ "$?"; } &
            p=$!
            exec 4>"$d/$n"
            rm -f "$d/$n"
            ;;
        esac
        ;;
    D) head -c "$m" | { cat 2>/dev/null >&4; cat >/dev/null; } ;;
    E) exec 4>&- ;;
    K) [ -n "$p" ] && k "$p" ;;
    *) break ;;
    esac
done
[ -n "$p" ] && k "$p" && wait
[ -n "$d" ] && rm -rf "$d"
exit 0
