.PHONY: install run demo test bench worker beat

# The port `make run` and `make demo` listen on: `make demo PORT=8001` when 8000 is taken.
PORT ?= 8000

install:
	scripts/bootstrap

run: install
	.venv/bin/python manage.py serve --port $(PORT)

demo: install
	.venv/bin/python manage.py serve --demo --port $(PORT)

test:
	scripts/test

worker: install
	.venv/bin/celery -A config worker -l info

beat: install
	.venv/bin/celery -A config beat -l info

# Performance targets (issue 7, docs/performance.md): prints every figure with PASS/FAIL, exits 1 on a
# FAIL. It writes to a scratch PostgreSQL database (created if missing; the first full run loads 10M
# events into it, which takes a while) and a scratch Redis db. `make bench BENCH_ARGS=--quick` for a
# few minutes' smaller run; BENCH_ARGS="--only proxy,ledger" for some sections only.
BENCH_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/tokenwise_bench
BENCH_REDIS_URL ?= redis://127.0.0.1:6379/13
BENCH_ARGS ?=

bench: install
	DATABASE_URL=$(BENCH_DATABASE_URL) REDIS_URL=$(BENCH_REDIS_URL) .venv/bin/python -m bench $(BENCH_ARGS)
