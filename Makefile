# The README's two commands are `make serve` and `make test`; the rest are the data team's tools.
PY := .venv/bin
.PHONY: setup serve test default-model evaluate bento

setup:
	scripts/setup.sh

serve: setup
	$(PY)/minsheng serve

test: setup
	scripts/system-deps.sh
	$(PY)/python -m pytest

# re-create the shipped default model (84 minutes on 2 cores), then its evaluation report
default-model: setup
	$(PY)/minsheng train --output models/default --no-store
	$(PY)/minsheng evaluate --model models/default --out reports

evaluate: setup
	$(PY)/minsheng evaluate --out reports

bento: setup
	$(PY)/minsheng models import
	$(PY)/bentoml build
