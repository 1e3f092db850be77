# The targets are the interface: README's commands are exactly these.
VENV    ?= .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
# The lab `homelab lab up` starts: $HOMELAB_LAB_DIR when set (as for the lab itself), else .homelab/lab.
LAB_INV := $(or $(HOMELAB_LAB_DIR),.homelab/lab)/inventory
export PATH := $(CURDIR)/$(BIN):$(PATH)
# litellm must never fetch its price list from the internet.
export LITELLM_LOCAL_MODEL_COST_MAP := True

.PHONY: setup demo test unit integration lint bench clean lab-down

$(STAMP): pyproject.toml scripts/bootstrap.sh
	@scripts/bootstrap.sh

setup: $(STAMP)  ## Create .venv and install the project (and the lab's system packages when root)

demo: setup  ## Start the sandbox lab and run the main job against it
	$(BIN)/homelab inventory validate
	$(BIN)/homelab catalog
	$(BIN)/homelab lab up
	$(BIN)/homelab lab status
	@echo "== Every catalog playbook also runs directly, as CI would run it:" >&2
	$(BIN)/ansible-playbook -i $(LAB_INV) playbooks/gather_facts.yml
	@echo "== Plan a change from plain words (offline planner): check-mode review with diffs, nothing changes yet:" >&2
	$(BIN)/homelab plan "apply the baseline settings to every host" --inventory $(LAB_INV)
	@echo "== Apply exactly the reviewed plan:" >&2
	$(BIN)/homelab apply latest --yes
	@echo "== Plan again: nothing left to change (idempotent):" >&2
	$(BIN)/homelab plan --playbook apply_baseline --inventory $(LAB_INV)
	@echo "== Facts from every host into the inventory, then what differs from the documentation:" >&2
	$(BIN)/homelab facts --inventory $(LAB_INV)
	$(BIN)/homelab drift --inventory $(LAB_INV)
	@echo "== A read plan runs at once: every host's GPUs, and where a model that needs 6 GB of VRAM fits:" >&2
	$(BIN)/homelab plan "where could I run a model that needs 6 GB of VRAM and 16 GB of RAM?" --inventory $(LAB_INV)
	@echo "== A slow host: a runaway process planted, then diagnosed; the plan takes the proposed fix as a step:" >&2
	$(BIN)/homelab lab plant k3s-vm-still-fawn cpu-hog
	$(BIN)/homelab plan "why is k3s-vm-still-fawn slow" --inventory $(LAB_INV)
	@echo "== Apply the reviewed fix: exactly the process the review named; the knowledge base records it:" >&2
	$(BIN)/homelab apply latest --yes
	$(BIN)/homelab lab plant k3s-vm-still-fawn cpu-hog --clear
	@echo "== The docs, regenerated from inventory, facts, catalog, knowledge base and session logs:" >&2
	$(BIN)/homelab docs --inventory $(LAB_INV)
	$(BIN)/homelab history --since $$(date -u +%F)
	@echo "The lab stays up: try 'homelab lab ssh still-fawn -- nvidia-smi -L'; stop it with 'make lab-down'." >&2

lab-down: setup
	$(BIN)/homelab lab down

# The checks of `make lint` and the three pytest streams run side by side (scripts/test.sh says how).
test: setup  ## Everything CI checks
	VENV=$(VENV) scripts/test.sh

unit: setup
	$(BIN)/pytest -q tests/unit

integration: setup
	$(BIN)/pytest -q tests/integration

# `ansible-test sanity` checks the collection (collections/ansible_collections/homelab/ops) as Ansible checks its
# own: module documentation against argument specs (validate-modules), pylint and pep8 with Ansible's rules,
# imports a module may make, YAML, shebangs, runtime metadata. On the venv's Python, no container; its test
# environments are made by `make setup` (scripts/sanity.sh says how). 27 s on this 2-core machine idle, ≈ 2½–4½ min
# with other test runs beside it.
lint: setup  ## ansible-lint, ruff (checks only; the code keeps its own layout), mypy over planner/, the incident reviews, ansible-test sanity, the docs current
	$(BIN)/ansible-lint --offline -q
	$(BIN)/ruff check --quiet .
	$(BIN)/mypy
	$(BIN)/pymarkdown scan docs/rca
	VENV=$(VENV) scripts/sanity.sh
	$(BIN)/homelab docs --check

bench: setup  ## homelab against plain Ansible at 9 and 30 lab hosts, planner and scale figures: one markdown table (root; BENCH_ARGS="--quick")
	$(BIN)/python bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache
