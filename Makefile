# The two commands of the README, and a few helpers. Every target is idempotent.
SHELL := /bin/bash
VENV  := .venv
BIN   := $(VENV)/bin

.PHONY: demo test setup setup-dev lint up down clean

## demo: install what is missing, start local services, run the platform with a simulated fleet
demo: setup
	$(BIN)/prognos run --demo

## test: install what is missing (dev tools too), then lint, type-check and run the whole suite
## (on every core: each pytest-xdist worker starts its own PostgreSQL and Mosquitto;
## PYTEST_WORKERS=0 runs it in one process)
PYTEST_WORKERS ?= auto
test: setup-dev lint
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist worksteal $(PYTEST_ARGS)

setup:
	@scripts/bootstrap.sh

setup-dev:
	@scripts/bootstrap.sh --dev --services local

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

up: setup
	$(BIN)/prognos up

down:
	$(BIN)/prognos down

clean: down
	rm -rf .prognos
