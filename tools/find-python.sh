#!/bin/sh
# Print the path of a working Python >= 3.12: first on PATH, then in pyenv's versions.
# Exit 1 with a clear message when none is found.
ok() { "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' >/dev/null 2>&1; }

for c in python3.12 python3.13 python3.14 python3; do
    p=$(command -v "$c" 2>/dev/null) || continue
    # pyenv shims exist on PATH even when the version is not active: `ok` runs them to be sure.
    if ok "$p"; then
        "$p" -c 'import sys; print(sys.executable)'
        exit 0
    fi
done

root=${PYENV_ROOT:-}
[ -z "$root" ] && command -v pyenv >/dev/null 2>&1 && root=$(pyenv root 2>/dev/null)
[ -z "$root" ] && root="$HOME/.pyenv"
for p in "$root"/versions/3.12*/bin/python3 "$root"/versions/3.13*/bin/python3 "$root"/versions/3.14*/bin/python3; do
    if [ -x "$p" ] && ok "$p"; then
        echo "$p"
        exit 0
    fi
done

echo "infergy needs Python >= 3.12, and none was found on PATH (python3.12, python3.13, python3.14, python3)" >&2
echo "nor under pyenv ($root/versions/3.12*). Install one (e.g. 'pyenv install 3.12') or run: make PYTHON=/path/to/python3.12" >&2
exit 1
