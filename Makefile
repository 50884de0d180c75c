.PHONY: install run demo test bench worker beat

install:
	scripts/bootstrap

run: install
	.venv/bin/python manage.py serve

demo: install
	.venv/bin/python manage.py serve --demo

test:
	scripts/test

worker: install
	.venv/bin/celery -A config worker -l info

beat: install
	.venv/bin/celery -A config beat -l info
