#!/bin/bash
# Builds a git repository with a fixed history in directory $1 and prints
# facts about it (commit ids, logs, trees, blame, fsck, gc results).
# Run by git.sh, once plainly and once under memf-run; all of git's
# subprocesses inherit the preload.
set -euo pipefail
cd "$1"
export HOME=$PWD/home GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
export GIT_AUTHOR_NAME="A U Thor" GIT_AUTHOR_EMAIL=author@example.com
export GIT_COMMITTER_NAME="C O Mitter" GIT_COMMITTER_EMAIL=committer@example.com
export LC_ALL=C TZ=UTC
mkdir -p "$HOME"

stamp() { echo "@$((1600000000 + $1 * 3600)) +0000"; }
commit() {
    GIT_AUTHOR_DATE=$(stamp "$1") GIT_COMMITTER_DATE=$(stamp "$1") \
        git commit -q -m "$2"
}

git init -q -b main repo
cd repo
git config core.autocrlf false
git config gc.auto 0
git config pack.threads 2

n=0
for i in $(seq 1 40); do
    for f in $(seq 1 12); do
        mkdir -p "dir$((f % 4))"
        # each file grows and changes a little with every commit
        awk -v i="$i" -v f="$f" 'BEGIN {
            for (l = 0; l < 50 + i * 5; l++)
                printf "file %d line %d value %d text %s\n", f, l, (l * 7 + i * (f % 3)) % 101,
                       substr("the quick brown fox jumps over the lazy dog", 1 + (l + i) % 20);
        }' >"dir$((f % 4))/file$f.txt"
    done
    if ((i % 7 == 0)); then
        k=$((i % 12 + 1))
        rm -f "dir$((k % 4))/file$k.txt"
    fi
    git add -A
    n=$((n + 1))
    commit "$n" "commit $i"
    if ((i % 10 == 0)); then git tag "v$((i / 10))"; fi
done

git checkout -q -b feature HEAD~5
for i in $(seq 1 8); do
    printf 'feature change %d\n' "$i" >>feature.txt
    seq "$i" 3 500 >"dir1/feature$i.txt"
    git add -A
    n=$((n + 1))
    commit "$n" "feature $i"
done
git checkout -q main
n=$((n + 1))
GIT_AUTHOR_DATE=$(stamp "$n") GIT_COMMITTER_DATE=$(stamp "$n") \
    git merge -q --no-ff -m "merge feature" feature

echo "== head"
git rev-parse HEAD HEAD^{tree} v1 v4
echo "== log"
git log --format='%H %an %ad %s' --date=iso --stat
echo "== graph"
git log --graph --oneline --all
echo "== tree"
git ls-tree -r -l HEAD
echo "== diff"
git diff --stat v1 v3
git diff v2 v3 -- dir1 | sed -n 1,200p
echo "== blame"
git blame -s dir2/file2.txt | sed -n 1,40p
echo "== grep"
git grep -c 'value 42' HEAD -- dir0
echo "== gc"
git gc --aggressive --quiet
git count-objects -v | grep -E '^(count|in-pack|packs|garbage):'
echo "== fsck"
git fsck --full --strict 2>&1
echo "== after gc"
git log --format=%H | sha256sum
git cat-file -p HEAD
git archive --format=tar HEAD | sha256sum
git rev-list --objects --all | wc -l
echo "== repack and verify"
git repack -a -d -q
git fsck --full 2>&1
git rev-list --count HEAD
