#!/bin/sh
# SPDX-License-Identifier: MIT
# The README's worked example, as a test: `git bisect run hvtrace replay ...` over core builds.
# A throwaway repository stands for the core's history: each commit's build.sh "builds" the
# core (here: copies one of the prebuilt plugins to build/core.so). Commit 3 cannot be
# replayed (a core without ADD: exit 125, skipped), commit 5 brings a wrong flag.
# usage: git_bisect.sh HVTRACE WORKDIR REF.so MUTANT_FLAG.so MUTANT_UNIMPL.so
H=$1 W=$2 REF=$3 BAD=$4 UNIMPL=$5
rm -rf "$W" && mkdir -p "$W/repo" || exit 1
cd "$W/repo" || exit 1
export GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@example.com GIT_COMMITTER_NAME=t \
    GIT_COMMITTER_EMAIL=t@example.com GIT_CONFIG_NOSYSTEM=1 HOME="$W"
git init -q . || exit 1

# a recorded trace of a known-good run (the reference core, scenario clean)
if ! "$H" record --scenario clean --seed 1 --events 100 -o "$W/clean.hvt" >/dev/null 2>"$W/err"; then
    grep -q "does not implement" "$W/err" && { echo "SKIP: clean needs an instruction" >&2; exit 77; }
    cat "$W/err" >&2
    exit 1
fi

n=0
for so in "$REF" "$REF" "$UNIMPL" "$REF" "$BAD" "$BAD"; do
    n=$((n + 1))
    printf '#!/bin/sh\nmkdir -p build && cp "%s" build/core.so\n' "$so" > build.sh
    echo "core change $n" > CHANGES
    git add build.sh CHANGES && git commit -q -m "core: change $n" || exit 1
    git tag "c$n"
done

# the build of commit 3 cannot replay the trace: exit 125, which git bisect run skips
"$H" replay "$W/clean.hvt" --core "$UNIMPL" >/dev/null 2>&1
[ $? = 125 ] || { echo "FAIL: the core without ADD should give 125" >&2; exit 1; }

# the README example: build each candidate, replay the trace with it; 125 means "skip"
git bisect start c6 c1 >/dev/null || exit 1
git bisect run sh -c "sh build.sh || exit 125; \"$H\" replay \"$W/clean.hvt\" --core build/core.so --no-analysis >/dev/null" > "$W/bisect.log" 2>&1
first=$(git rev-parse refs/bisect/bad)
want=$(git rev-parse c5)
git bisect reset -q >/dev/null 2>&1
if [ "$first" != "$want" ]; then
    echo "FAIL: git bisect found $(git describe --tags "$first"), expected c5" >&2
    cat "$W/bisect.log" >&2
    exit 1
fi
grep -q "is the first bad commit" "$W/bisect.log" || { cat "$W/bisect.log" >&2; exit 1; }
echo "git bisect: c5 is the first bad core build, as expected"
exit 0
