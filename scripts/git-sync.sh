#!/usr/bin/env bash
# Fast-forwards the desired directory (a git checkout) to its upstream branch, safely.
#
# Usage: git-sync.sh [DIR]     DIR defaults to $COMPOSECTL_DESIRED, then /srv/desired.
# Installed as /usr/local/libexec/composectl/git-sync and run by
# composectl-git-sync.service (see systemd/), every minute by its timer.
#
# What it does, and refuses to do:
# - `git fetch` the upstream of the checked-out branch, then `git merge --ff-only`: the
#   work tree only ever moves from one commit of the remote to a later one. Never a merge
#   commit, never a rebase, never a reset, never a half-applied merge.
# - Refuses (exit 1, changing nothing) when tracked files have local changes (staged or
#   not), when a merge/rebase/cherry-pick is in progress, when HEAD is detached or the
#   branch has no upstream, and when the branch has local commits that the remote does not
#   have (ahead or diverged): a person is editing on the host; a human must decide.
# - Untracked and ignored files (a `.env` with secrets kept out of git) stay as they are;
#   git itself refuses a fast-forward that would overwrite an untracked file.
# - Logs what changed: the commits and `git diff --stat` of the update.
#
# Exit codes: 0 up to date or fast-forwarded; 1 refused or fetch failed; 2 not a usable
# git checkout.
set -euo pipefail

dir=${1:-${COMPOSECTL_DESIRED:-/srv/desired}}

say() { printf 'git-sync: %s\n' "$*"; }
refuse() {
    printf 'git-sync: refusing to update %s: %s\n' "$dir" "$*" >&2
    exit 1
}
unusable() {
    printf 'git-sync: %s: %s\n' "$dir" "$*" >&2
    exit 2
}

[[ -d $dir ]] || unusable "no such directory"
cd "$dir"
# Never prompt for credentials or host keys: a timer has no one to answer.
export GIT_TERMINAL_PROMPT=0
export GIT_SSH_COMMAND=${GIT_SSH_COMMAND:-ssh -o BatchMode=yes}

top=$(git rev-parse --show-toplevel 2>/dev/null) || unusable "not a git checkout"
[[ $(git rev-parse --is-bare-repository) == false ]] || unusable "a bare repository has no work tree"
git_dir=$(git rev-parse --absolute-git-dir)

for marker in MERGE_HEAD REBASE_HEAD CHERRY_PICK_HEAD REVERT_HEAD rebase-merge rebase-apply; do
    [[ ! -e $git_dir/$marker ]] || refuse "an unfinished merge, rebase or cherry-pick is in progress ($marker)"
done

branch=$(git symbolic-ref --quiet --short HEAD) || refuse "HEAD is detached; check out a branch that tracks the remote"
upstream=$(git rev-parse --abbrev-ref --symbolic-full-name '@{upstream}' 2>/dev/null) ||
    refuse "branch $branch has no upstream (git branch --set-upstream-to=origin/$branch)"
remote=$(git config --get "branch.$branch.remote") || refuse "branch $branch names no remote"

git update-index -q --refresh >/dev/null 2>&1 || true
changes=$(git status --porcelain --untracked-files=no)
if [[ -n $changes ]]; then
    printf '%s\n' "$changes" >&2
    refuse "the work tree of $top has local changes (listed above); commit and push them, or discard them"
fi

git fetch --quiet --prune "$remote" || refuse "git fetch $remote failed"

head=$(git rev-parse HEAD)
target=$(git rev-parse "$upstream")
if [[ $head == "$target" ]]; then
    say "$top is up to date with $upstream at ${head:0:12}"
    exit 0
fi

ahead=$(git rev-list --count "$upstream..HEAD")
if ((ahead > 0)); then
    behind=$(git rev-list --count "HEAD..$upstream")
    git log --oneline --no-decorate "$upstream..HEAD" >&2
    refuse "branch $branch has $ahead local commit(s) that $upstream does not have (listed above; $behind new on the remote); push or drop them"
fi

say "updating $top: ${head:0:12}..${target:0:12} ($(git rev-list --count "HEAD..$upstream") commit(s) from $upstream)"
git log --oneline --no-decorate "HEAD..$upstream"
git merge --ff-only --quiet "$upstream" || refuse "git merge --ff-only $upstream failed; nothing was changed"
git diff --stat "$head" HEAD
say "now at ${target:0:12}"
