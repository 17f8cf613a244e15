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

# re-create the shipped default model, then its evaluation report: it continues model 20261124-173030 (the
# default of commit $(PARENT_MODEL), itself 84 minutes of `minsheng train` from m3e-small) on today's data, with a
# head for the Teddy domains (49 minutes on one core; reports/experiments.md, "Round 2")
PARENT_MODEL := cc41771
default-model: setup
	rm -rf build/parent && mkdir -p build/parent
	git archive $(PARENT_MODEL) models/default | tar -x -C build/parent
	$(PY)/minsheng train --init-from build/parent/models/default --epochs 0.6 --lr 5e-5 --threads 1 \
		--output models/default --no-store
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
