#!/usr/bin/env bash
# ansible-test sanity, offline-capable, with no ignore file: copies the collection's files (tracked and
# untracked-but-not-ignored) to build/sanity/ansible_collections/sqlvm/backup - a real directory, as
# ansible-test requires - and runs there. ansible-test's venvs and its pip bootstrap live under
# build/sanity/home, so later runs reuse them. Extra arguments go to ansible-test (e.g. --test pep8).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
VENV=${VENV:-.venv}
PYTHON_VERSION=${SANITY_PYTHON:-$("$VENV/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')}
DEST=build/sanity/ansible_collections/sqlvm/backup
SANITY_HOME=$ROOT/build/sanity/home

rm -rf build/sanity/ansible_collections
mkdir -p "$DEST" "$SANITY_HOME"
git ls-files -z --cached --others --exclude-standard \
  | while IFS= read -r -d '' file; do [ -f "$file" ] && printf '%s\0' "$file"; done \
  | xargs -0 cp --parents -t "$DEST"

# Pre-seed the pip bootstrap ansible-test would download (see tests/utils/get_pip_shim.py).
pip_version=$("$VENV/bin/python" - <<'PY'
import re, ansible_test, pathlib
text = (pathlib.Path(ansible_test.__file__).parent / "_internal" / "python_requirements.py").read_text()
print(re.search(r"pip='([0-9.]+)'", text).group(1))
PY
)
mkdir -p "$SANITY_HOME/.ansible/test/cache"
cp tests/utils/get_pip_shim.py "$SANITY_HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py"

cd "$DEST"
# The copy sits inside our (ignored) build/ directory; its own git index makes ansible-test list its
# files instead of asking the outer repository, which ignores them.
git init -q . && git add -A
export HOME=$SANITY_HOME
exec "$ROOT/$VENV/bin/ansible-test" sanity --venv --python "$PYTHON_VERSION" --color no "$@"
