#!/bin/sh
# SPDX-License-Identifier: MIT
# hvtrace report in a real browser: headless Chromium (Debian's chromium) loads the page with no
# console errors, the script ran, the diverging access is outlined, and a screenshot is taken.
# Usage: report_html.sh HVTRACE [SCREENSHOT.png]   (exit 77: no chromium here)
set -u
H=$1
SHOT=${2:-}
. "$(dirname "$0")/cli_lib.sh"
cli_init hvt-report
CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$CHROMIUM" ]; then
    echo "SKIP: no chromium (scripts/install-deps.sh installs it)"
    exit 77
fi
chrome() {
    timeout 120 "$CHROMIUM" --headless --disable-gpu --no-sandbox --no-first-run \
        --user-data-dir="$W/profile" --enable-logging=stderr --v=0 "$@"
}

"$H" record --scenario pageout --events 60 --callsites 3 -o "$W/t.hvt" >/dev/null || bad "record"
"$H" report "$W/t.hvt" -o "$W/r.html" --max 8 >"$W/out" 2>&1 || { bad "report"; cat "$W/out"; }
grep -q "diverging" "$W/out" || bad "report prints no summary line"

# self-contained: nothing is fetched (the only URL is the SVG namespace name)
grep -Eio '(src|href)="?[a-z]+:|<link|@import|url\(|https?://[^"]*' "$W/r.html" | grep -v '^http://www.w3.org/2000/svg' |
    head -3 | grep . && bad "the page refers to something outside itself"

chrome --dump-dom "file://$W/r.html" >"$W/dom.html" 2>"$W/log" || bad "chromium --dump-dom failed"
grep 'CONSOLE' "$W/log" >"$W/console"
grep -q '"hvtrace-report: ready [1-9][0-9]* [0-9]*"' "$W/console" ||
    { bad "the page's script did not run to its end"; cat "$W/log" | tail -5; }
grep -v 'hvtrace-report: ready' "$W/console" | grep . && bad "console messages besides the page's own"
grep -q 'data-ready="1"' "$W/dom.html" || bad "the DOM does not show the script ran"
grep -q 'id="status">[1-9][0-9]* diverging access(es) outlined' "$W/dom.html" || bad "status line"
# the divergence of this scenario: the buffer's PTE (walk L1) read differently by the passes;
# its row has the outlined (diverging) cell, and the differing cells are highlighted
tr '\n' ' ' <"$W/dom.html" | sed 's/<tr/\n<tr/g' | grep '<th>walk:L1</th>' | grep -q 'class="diverge"' ||
    bad "no walk:L1 row with the diverging access outlined"
grep -q 'class="diff"' "$W/dom.html" || bad "no differing cell highlighted"
grep -q 'translation_changed' "$W/dom.html" || bad "the finding's class is not shown"
grep -q 'frame 0x[0-9a-f]* P RW' "$W/dom.html" || bad "paging entries are not decoded"
grep -q 'rep movsb\|rep outsb' "$W/dom.html" || bad "the instruction is not disassembled"
grep -q 'call site: [a-z_]' "$W/dom.html" || bad "no call site"
grep -q '<svg' "$W/dom.html" && grep -q 'vCPU 1</text>' "$W/dom.html" || bad "no timeline across the vCPUs"

chrome --hide-scrollbars --window-size=1280,1500 --screenshot="$W/shot.png" "file://$W/r.html" \
    >/dev/null 2>&1 || bad "chromium --screenshot failed"
[ "$(head -c 8 "$W/shot.png" | od -An -tx1 | tr -d ' ')" = 89504e470d0a1a0a ] || bad "no PNG screenshot"
[ "$(wc -c <"$W/shot.png")" -gt 20000 ] || bad "the screenshot is nearly empty"
[ -n "$SHOT" ] && [ "$fail" = 0 ] && cp "$W/shot.png" "$SHOT"
exit $fail
