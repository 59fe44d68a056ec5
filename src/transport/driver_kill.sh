# Kills every descendant of process $1 (not $1 itself): all are stopped first, so none can fork
# away while the tree is read, then killed. Shared by the driver and tended's own kill of a task.
_td_k() {
    for _td_s in STOP KILL; do
        ps -A -o pid= -o ppid= 2>/dev/null | awk -v r="$1" '
            { up[$1] = $2 }
            END {
                s[r] = 1
                do { c = 0; for (x in up) if (!(x in s) && (up[x] in s)) { s[x] = 1; c = 1 } } while (c)
                for (x in s) if (x != r) print x
            }' | while read -r _td_x; do kill -"$_td_s" "$_td_x" 2>/dev/null; done
    done
}
