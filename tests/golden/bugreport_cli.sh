#!/bin/sh
# SPDX-License-Identifier: MIT
# The bug-report workflow at the command line: selections, extract, redaction, consistent
# options and JSON, progress, empty selections.
# Usage: bugreport_cli.sh HVTRACE CASE [ARG]  (one ctest test per CASE, tests/golden/CMakeLists.txt)
set -u
H=$1
CASE=$2
ARG=${3:-}
. "$(dirname "$0")/cli_lib.sh"
cli_init hvt-bugreport
RUN_BOTH=1
# count PATTERN FILE: lines of FILE matching PATTERN
count() { grep -c -- "$1" "$2"; }
# The findings of a replay, one line each: event class pass_a pass_b idx_a idx_b (benign ones
# too), so that two replays compare whatever the data in their detail text.
findings() {
    "$H" replay "$@" --json --verbose 2>/dev/null | grep '"type":"divergence"' |
        sed -E 's/.*"event":([0-9]+),.*"class":"([a-z_]+)".*"pass_a":([0-9]+),"pass_b":([0-9]+).*"a":(\{"index":(-?[0-9]+)|null).*"b":(\{"index":(-?[0-9]+)|null).*/\1 \2 \3 \4 \6 \8/'
}

"$H" gen-sample -o "$W/s.hvt" --events 40 >/dev/null || bad "gen-sample"

case $CASE in
filters)
    # every selection option narrows dump, stats, replay and diff; values combine
    run 0 "" dump "$W/s.hvt" --vcpu 1
    [ "$(count '^event .* vcpu 0 ' "$W/out")" = 0 ] && [ "$(count '^event .* vcpu 1 ' "$W/out")" -gt 0 ] ||
        bad "dump --vcpu 1 shows vCPU 0 or nothing"
    rip=$(grep -m1 '^event ' "$W/out" | sed -E 's/.* rip (0x[0-9a-f]+) .*/\1/')
    run 0 "" dump "$W/s.hvt" --rip "$rip"
    [ "$(count '^event ' "$W/out")" -ge 1 ] && [ "$(grep '^event ' "$W/out" | grep -vc "rip $rip ")" = 0 ] ||
        bad "dump --rip $rip"
    run 0 "" dump "$W/s.hvt" --mnemonic "rep movsb"
    [ "$(count '^event ' "$W/out")" -gt 0 ] && [ "$(grep '^event ' "$W/out" | grep -vc 'rep movsb')" = 0 ] ||
        bad "dump --mnemonic 'rep movsb'"
    run 0 "" dump "$W/s.hvt" --class io
    [ "$(count '^    \[' "$W/out")" -gt 0 ] && [ "$(grep '^    \[' "$W/out" | grep -vc ' io  ')" = 0 ] ||
        bad "dump --class io prints other accesses"
    run 0 "" dump "$W/s.hvt" --tag walk:L1 --events 0..9
    [ "$(grep '^    \[' "$W/out" | grep -vc 'walk:L1 \|walk:op[0-9]:L1 ')" = 0 ] || bad "dump --tag walk:L1"
    [ "$(grep '^event ' "$W/out" | sed -E 's/event ([0-9]+) .*/\1/' | sort -n | tail -1)" -le 9 ] ||
        bad "dump --events 0..9 goes past 9"
    # stats counts only the selection; --by rip and --by mnemonic summarise per instruction
    run 0 '"events":40' stats "$W/s.hvt" --json
    run 0 "" stats "$W/s.hvt" --json --vcpu 0
    grep -q '"events":40,' "$W/out" && bad "stats --vcpu 0 counts every event"
    run 0 '"by_mnemonic":\[{"type":"by_mnemonic","mnemonic":"mov","events":' stats "$W/s.hvt" --json --by mnemonic
    run 0 "rep movsb" stats "$W/s.hvt" --by rip
    total=$("$H" stats "$W/s.hvt" --by mnemonic | sed -n '/^by mnemonic/,$p' | awk 'NR>1{s+=$(NF-4)}END{print s}')
    [ "$total" = 40 ] || bad "stats --by mnemonic rows add up to $total events, not 40"
    # replay: a finding class selects events; the summary counts the selection
    run 0 "summary: 6 events" replay "$W/s.hvt" --mnemonic "rep movsb" --analysis-only
    # events without findings are selected by their instruction too (the same as dump)
    nmov=$("$H" dump "$W/s.hvt" --mnemonic mov | grep -c '^event ')
    [ "$nmov" -gt 0 ] || bad "dump --mnemonic mov finds nothing"
    run 0 "summary: $nmov events" replay "$W/s.hvt" --mnemonic mov --analysis-only
    run 0 "summary: 0 events" replay "$W/s.hvt" --class translation_changed --analysis-only
    run 2 "finding classes" replay "$W/s.hvt" --class nonsense
    run 2 "tag classes: fetch" dump "$W/s.hvt" --class translation_changed
    # diff compares the selected events of both sides
    "$H" gen-sample -o "$W/t.hvt" --events 40 --seed 2 >/dev/null
    run 1 "A: event" diff "$W/s.hvt" "$W/t.hvt"
    run 0 "the traces are the same (20 events)" diff "$W/s.hvt" "$W/s.hvt" --vcpu 1
    run 1 '"side":"A"' diff "$W/s.hvt" "$W/t.hvt" --json --events 3 --vcpu 0,1 --rip 0..0xffffffffffffffff
    run 2 "expected vCPU numbers" dump "$W/s.hvt" --vcpu x
    ;;
empty_selection)
    # a selection that matches nothing is an answer (exit 0) with a warning
    run 0 "warning: no event matches the selection (--events 99999)" dump "$W/s.hvt" --events 99999
    run 0 "warning: no event matches the selection (--vcpu 7)" stats "$W/s.hvt" --vcpu 7
    run 0 "warning: no event matches" replay "$W/s.hvt" --events 500.. --analysis-only
    run 0 "warning: no event matches" diff "$W/s.hvt" "$W/s.hvt" --mnemonic hlt
    run 0 "warning: no event matches" extract "$W/s.hvt" --events 900 -o "$W/e.hvt"
    run 0 "" dump "$W/s.hvt" --events 3
    grep -q warning "$W/err" && bad "dump --events 3 warns"
    ;;
dump)
    # disassembly per event, paging entries as values, decoded
    run 0 "insn 8b 07  mov eax, dword ptr \[rdi\]" dump "$W/s.hvt" --events 0
    run 0 "walk:L1 .* entry 0x00000000febf007b (frame 0xfebf0000 P RW A D)" dump "$W/s.hvt" --events 0
    run 0 '"entry":{"value":"0xfebf007b","frame":"0xfebf0000","decoded":"frame 0xfebf0000 P RW A D"}' \
        dump "$W/s.hvt" --json --events 0
    # --json: the first event of a vCPU in full, later ones as what changed; --full-state all
    "$H" dump "$W/s.hvt" --json | grep '"type":"event"' >"$W/d.json"
    [ "$(count '"init":{' "$W/d.json")" = 2 ] || bad "dump --json: full state not only for each vCPU's first event"
    [ "$(count '"init_changed":{' "$W/d.json")" = 38 ] || bad "dump --json: no deltas"
    "$H" dump "$W/s.hvt" --json --full-state | grep '"type":"event"' >"$W/f.json"
    [ "$(count '"init":{' "$W/f.json")" = 40 ] || bad "dump --json --full-state"
    [ "$(wc -c <"$W/d.json")" -lt "$(wc -c <"$W/f.json")" ] || bad "deltas are not smaller"
    # the delta holds what changed: event 2 (vCPU 0) against event 0 (vCPU 0)
    old=$(grep '"id":0,' "$W/f.json" | sed -E 's/.*"rbx":"(0x[0-9a-f]+)".*/\1/')
    new=$(grep '"id":2,' "$W/f.json" | sed -E 's/.*"rbx":"(0x[0-9a-f]+)".*/\1/')
    grep '"id":2,' "$W/d.json" | grep -q "\"rbx\":\[\"$old\",\"$new\"\]" || bad "delta of rbx ($old -> $new)"
    # one pass base: the demo and dump both start at pass 0
    run 0 "  pass 0  retry" dump "$W/s.hvt" --events 0
    run 0 '"type":"pass","event":0,"index":0' dump "$W/s.hvt" --events 0 --json
    ;;
options)
    # one name per option, old names kept
    run 0 "" gen-sample -f "$W/a.hvt" --events 5
    run 0 "" gen-sample --output "$W/b.hvt" --events 5
    cmp -s "$W/a.hvt" "$W/b.hvt" || bad "gen-sample -f and --output differ"
    run 0 '^{"type":"record","file":' record --scenario clean --events 5 --json -o "$W/r1.hvt"
    run 0 "" record --scenario ptwrite --events 20 --core-option pdpte-reread=1 -o "$W/r2.hvt"
    run 0 "" record --scenario ptwrite --events 20 --core-opt pdpte-reread=1 -o "$W/r3.hvt"
    cmp -s "$W/r2.hvt" "$W/r3.hvt" || bad "record --core-option and --core-opt differ"
    run 2 "core-option 'x'" record --scenario clean --core-option x -o "$W/r4.hvt"
    run 0 "" replay "$W/r2.hvt" --core-opt pdpte-reread=1 --no-analysis
    # did you mean
    run 2 "unknown command 'dmup' (did you mean 'dump'?" dmup "$W/s.hvt"
    run 2 "unknown command 'extrct' (did you mean 'extract'?" extrct
    run 2 "unknown option '--evnts' (did you mean '--events'?" dump "$W/s.hvt" --evnts 3
    run 2 "did you mean '--core-option'?" replay "$W/s.hvt" --core-optoin a=1
    run 2 "did you mean '--by'?" stats "$W/s.hvt" --bye rip
    run 2 "did you mean '--scenario'?" record --scenaro clean -o "$W/x.hvt"
    run 2 "did you mean '--salvage'?" verify "$W/s.hvt" --salvag "$W/y.hvt"
    run 2 "did you mean '--exhaustive'?" bisect "$W/s.hvt" --exhaustiv
    run 2 "did you mean '--redact'?" extract "$W/s.hvt" --events 1 -o "$W/z.hvt" --redcat
    run 2 "unknown option '--zzzzzzzz' (try --help)" dump "$W/s.hvt" --zzzzzzzz
    ;;
json)
    # every JSON object a command prints has a "type", first
    "$H" record --scenario pageout --events 30 -o "$W/p.hvt" --json >"$W/all.json"
    for args in "dump $W/s.hvt --json" "stats $W/s.hvt --json --by rip" "verify $W/s.hvt --json" \
        "replay $W/p.hvt --json --verbose --cache walk" "bisect $W/p.hvt --json" \
        "diff $W/s.hvt $W/p.hvt --json" "extract $W/p.hvt --events 0..3 -o $W/e.hvt --json --redact"; do
        # shellcheck disable=SC2086
        "$H" $args >>"$W/all.json" 2>/dev/null
    done
    [ "$(wc -l <"$W/all.json")" -gt 100 ] || bad "too few JSON lines"
    grep -v '^{"type":"[a-z_]*"' "$W/all.json" | head -3 | grep . && bad "JSON lines without a leading type"
    # one key per concept: tag classes are by_tag_class everywhere; the what-if says undetermined
    grep -q '"accesses_by_tag_class":' "$W/all.json" || bad "stats: accesses_by_tag_class"
    grep -q '"by_tag_class":' "$W/all.json" || bad "replay: by_tag_class"
    grep -q '"by_tag"\|accesses_by_class\|"unknown"' "$W/all.json" && bad "old key names remain"
    grep -q '"undetermined":' "$W/all.json" || bad "replay what-if: undetermined"
    # bisect: the detail is the first divergence, never uninitialised bytes
    grep '"type":"bisect"' "$W/all.json" | grep -q '"detail":"[a-z_]*: ' || bad "bisect detail"
    "$H" record --scenario clean --events 20 -o "$W/c.hvt" >/dev/null
    run 0 '"event":null,.*"detail":null' bisect "$W/c.hvt" --json
    LC_ALL=C grep -q "$(printf '[\001-\010]')" "$W/all.json" && bad "control bytes in JSON"
    ;;
progress)
    # progress on a terminal (here forced; and on a real pseudo-terminal through script(1) when
    # it is there): its own line, erased before the report, nothing of it on stdout
    "$H" record --scenario mixed --events 3000 -o "$W/m.hvt" >/dev/null
    for cmd in "stats $W/m.hvt" "dump $W/m.hvt" "replay $W/m.hvt" "extract $W/m.hvt --events 0.. -o $W/e.hvt -f" \
        "report $W/m.hvt -o $W/r.html -f" "verify $W/m.hvt" "record --scenario clean --events 50000 -o $W/c.hvt" \
        "verify $W/m.hvt --salvage $W/v.hvt" "diff $W/m.hvt $W/m.hvt" "bisect $W/m.hvt"; do
        # shellcheck disable=SC2086
        HVT_PROGRESS=1 "$H" $cmd >"$W/out" 2>"$W/err"
        LC_ALL=C grep -q "$(printf '\r')" "$W/err" || bad "$cmd: no progress on stderr"
        LC_ALL=C grep -q "$(printf '\r')" "$W/out" && bad "$cmd: progress on stdout"
        # the last thing on stderr erases the progress line
        tail -c 4 "$W/err" | od -An -c | grep -q '\\r 033   \[   K' || bad "$cmd: progress not cleared at the end"
    done
    HVT_PROGRESS=0 "$H" stats "$W/m.hvt" >"$W/out" 2>"$W/err"
    [ -s "$W/err" ] && bad "HVT_PROGRESS=0 still shows progress"
    if command -v script >/dev/null 2>&1 && script -qec true /dev/null >/dev/null 2>&1; then
        script -qec "$H replay $W/m.hvt" /dev/null >"$W/tty" 2>&1
        # the report starts on a line of its own: erased progress, then "cpu:" at the start
        # ("chunk 2/2 (100%)cpu: ..." on the screen when it is not erased first)
        LC_ALL=C grep -a 'cpu: ' "$W/tty" | LC_ALL=C grep -aq '%)cpu:' &&
            bad "replay: the progress runs into the report"
        LC_ALL=C grep -a 'cpu: ' "$W/tty" | LC_ALL=C grep -aq "^cpu: \\|$(printf '\r\033')\\[Kcpu: " ||
            bad "replay: the report does not start on a line of its own"
        LC_ALL=C grep -aq "$(printf '\r')replay: chunk" "$W/tty" || bad "replay: no progress on a terminal"
        # whatever follows a progress line is its erasure or the next progress line
        LC_ALL=C grep -aqP '%\)\x1b\[K[^\r]' "$W/tty" && bad "replay: output runs into the progress line"
    fi
    ;;
extract)
    # a self-contained trace of the chosen events: the header, CPU profile and call sites
    # come along, and it replays to the same findings as those events in the whole trace
    "$H" record --scenario "$ARG" --events 200 --callsites 2 -o "$W/full.hvt" >/dev/null ||
        bad "record $ARG"
    findings "$W/full.hvt" --events 50..120 >"$W/f1"
    run 0 "71 events (50..120)" extract "$W/full.hvt" --events 50..120 -o "$W/x.hvt"
    findings "$W/x.hvt" >"$W/f2"
    cmp -s "$W/f1" "$W/f2" || { bad "$ARG: extract replays to other findings"; diff "$W/f1" "$W/f2" | head -5; }
    run 0 "" stats "$W/x.hvt" --json
    grep -q '"events":71,.*"lost_markers":0' "$W/out" || bad "$ARG: extract holds other events"
    "$H" stats "$W/full.hvt" --json | sed -E 's/.*("cpu":.*)/\1/' >"$W/c1"
    sed -E 's/.*("cpu":.*)/\1/' "$W/out" >"$W/c2"
    cmp -s "$W/c1" "$W/c2" || bad "$ARG: extract lost the CPU profile"
    run 0 "extract.selection" dump "$W/x.hvt" --json --events 50
    grep -q '"function":"[a-z_]' "$W/out" || bad "$ARG: extract lost the call sites"
    run 2 "is the input" extract "$W/x.hvt" --events 0.. -o "$W/x.hvt" -f
    run 2 "exists" extract "$W/full.hvt" --events 0 -o "$W/x.hvt"
    run 2 "--events SPEC is required" extract "$W/full.hvt" -o "$W/y.hvt"
    ;;
redact)
    # redacted: the same findings, per scenario; the data that goes is really gone; the
    # page-walk entries and instruction bytes stay; the summary says what was kept and why
    "$H" record --scenario "$ARG" --events 200 -o "$W/full.hvt" >/dev/null || bad "record $ARG"
    findings "$W/full.hvt" >"$W/f1"
    run 0 "kept, and why:" extract "$W/full.hvt" --events 0.. --redact --key 0x1234 -o "$W/r.hvt"
    grep -q "page-walk entry" "$W/out" || bad "$ARG: the summary does not say why walks are kept"
    grep -q "checked: each redacted event replays to the same findings" "$W/out" || bad "$ARG: summary"
    findings "$W/r.hvt" >"$W/f2"
    cmp -s "$W/f1" "$W/f2" || { bad "$ARG: the redacted trace replays to other findings"; diff "$W/f1" "$W/f2" | head -5; }
    run 0 "" replay "$W/r.hvt" --no-analysis
    grep -q "replay_mismatch=0" "$W/out" || bad "$ARG: the core does not match the redacted trace"
    # walks, A/D updates and fetches are byte for byte the same; redacted data differs
    "$H" dump "$W/full.hvt" --no-disasm | grep -E ' (walk|ad|fetch)[:a-zL0-9]* ' >"$W/k1"
    "$H" dump "$W/r.hvt" --no-disasm | grep -E ' (walk|ad|fetch)[:a-zL0-9]* ' >"$W/k2"
    cmp -s "$W/k1" "$W/k2" || bad "$ARG: page-walk entries or instruction bytes changed"
    n=$("$H" extract "$W/full.hvt" --events 0.. --redact --key 0x1234 -o "$W/r2.hvt" --json |
        sed -E 's/.*"redacted":([0-9]+),.*/\1/')
    case $ARG in pageout | cmps | mixed) [ "$n" -gt 0 ] || bad "$ARG: nothing redacted" ;; esac
    "$H" dump "$W/full.hvt" --no-disasm | grep -E ' (data|stack|desc|io)[:a-zL0-9]* ' >"$W/d1"
    "$H" dump "$W/r.hvt" --no-disasm | grep -E ' (data|stack|desc|io)[:a-zL0-9]* ' >"$W/d2"
    [ "$(wc -l <"$W/d1")" = "$(wc -l <"$W/d2")" ] || bad "$ARG: redaction changed the accesses"
    changed=$(paste -d '|' "$W/d1" "$W/d2" | awk -F'|' '$1 != $2' | wc -l)
    [ "$changed" = "$n" ] || bad "$ARG: $changed accesses changed, the summary says $n redacted"
    # the same key gives the same file content; zeros redact with zeros
    "$H" dump "$W/r2.hvt" --no-disasm | grep -v '^trace' >"$W/r2.txt"
    "$H" dump "$W/r.hvt" --no-disasm | grep -v '^trace' >"$W/r1.txt"
    cmp -s "$W/r1.txt" "$W/r2.txt" || bad "$ARG: the same key redacts differently"
    run 0 "redacted (zeros)" extract "$W/full.hvt" --events 0.. --redact-with zero -o "$W/z.hvt"
    findings "$W/z.hvt" >"$W/f3"
    cmp -s "$W/f1" "$W/f3" || bad "$ARG: zero-redacted trace replays to other findings"
    ;;
report)
    # the page without a browser (report_html.sh loads it in one): content, limits, outputs
    "$H" record --scenario pageout --events 40 --callsites 2 -o "$W/p.hvt" >/dev/null
    run 0 "r.html: 40 events, [1-9][0-9]* diverging, 3 detailed" report "$W/p.hvt" -o "$W/r.html" --max 3
    [ "$(grep -c '<div class=event' "$W/r.html")" = 3 ] || bad "report --max 3"
    grep -q '<td class=diverge>' "$W/r.html" || bad "no outlined diverging access"
    grep -q 'frame 0x[0-9a-f]* P RW' "$W/r.html" || bad "no decoded entry"
    grep -q '<svg' "$W/r.html" || bad "no timeline"
    grep -Eio '(src|href)="?[a-z]+:|<link|@import|url\(' "$W/r.html" | grep . && bad "external references"
    run 2 "exists (use -f" report "$W/p.hvt" -o "$W/r.html"
    run 2 "is the input" report "$W/p.hvt" -o "$W/p.hvt" -f
    ln -s "$W/r.html" "$W/l.html"
    run 2 "not a regular file" report "$W/p.hvt" -o "$W/l.html" -f
    run 0 "warning: no event matches" report "$W/p.hvt" -o "$W/e.html" --mnemonic hlt
    run 0 "a.html: 40 events, [0-9]* diverging, 40 detailed" report "$W/p.hvt" -o "$W/a.html" --all
    run 0 "v.html: [1-9][0-9]* events, [1-9][0-9]* diverging, 2 detailed" report "$W/p.hvt" \
        -o "$W/v.html" --class translation_changed --max 2
    run 3 "" report "$W/nonexistent.hvt" -o "$W/n.html"
    ;;
*)
    echo "unknown case $CASE" >&2
    exit 2
    ;;
esac
exit $fail
