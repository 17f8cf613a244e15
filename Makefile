# The README's two commands are `make serve` and `make test`; the rest are the data team's tools.
PY := .venv/bin
.PHONY: setup serve test default-model evaluate bento bench

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
	$(PY)/minsheng bento

# re-run every bench (bench/run_all.py, about an hour on 2 cores) and render bench/README.md and its .md reports
# from bench/results/*.json; fails when any bench's acceptance condition fails. Some only: make bench ONLY=load,faults
bench: setup
	VIRTUAL_ENV=.venv uv pip install -q -e '.[bench]'
	$(PY)/python bench/run_all.py $(if $(ONLY),--only $(ONLY))
