#!/usr/bin/env bash
# The setfit baseline's own environment (benchmarks/fewshot_text.py --setfit): a venv layered on
# the project's .venv (a .pth file puts .venv's packages on its path, so torch and transformers
# are the very same builds) with setfit and what it adds (datasets, sentence-transformers...).
# Usage: bash benchmarks/setfit_env.sh   -> benchmarks/.venv-setfit/bin/python
set -euo pipefail
cd "$(dirname "$0")/.."
ENV=benchmarks/.venv-setfit
test -x .venv/bin/python || make install
test -x "$ENV/bin/python" || python3 -m venv "$ENV"
base=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
here=$("$ENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
# addsitedir (not a bare path) also runs .venv's own .pth files: the editable transfer-zoo install.
echo "import site; site.addsitedir('$base')" > "$here/zoo-project.pth"
"$ENV/bin/python" -m pip install --quiet --disable-pip-version-check -c constraints.txt "setfit==1.2.0"
"$ENV/bin/python" -c 'import setfit, torch, transformers, zoo_core; print("setfit", setfit.__version__, "torch", torch.__version__, "transformers", transformers.__version__)'
