# ecowarn - the README's commands. CMake does the building; this file only names the steps.
#
#   make            install missing Debian packages, build into build/ (binaries in build/bin/)
#   make demo       local redis-server + embedded Kafka + ecowarnd + a simulated fleet: alerts live
#   make test       build, run every test label, then again under ASan+UBSan (build-asan/)
#   make bench      build and run the benchmarks (bench/)
#   make deb        the Debian package, checked by lintian (build-deb/ecowarn_*.deb)
#   make reference  write ecowarnd's option table into OPERATING.md's configuration reference
#   make fuzz       build the libFuzzer targets with clang and run each for FUZZ_SECONDS
#   make format     clang-format every C file in place

BUILD        ?= build
ASAN_BUILD   ?= build-asan
FUZZ_BUILD   ?= build-fuzz
FUZZ_SECONDS ?= 60
JOBS         ?= $(shell nproc 2>/dev/null || echo 2)
GENERATOR    := $(shell command -v ninja >/dev/null 2>&1 && echo "-G Ninja")
# CI builds with -Werror; a developer's build only warns.
WERROR       := $(if $(filter true,$(CI)),-DEW_WERROR=ON,)

.PHONY: all deps build demo test test-asan bench deb reference fuzz format clean

all: build

deps:
	@scripts/deps.sh

build: deps
	cmake --preset default $(GENERATOR) $(WERROR) >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

demo: build
	scripts/demo.sh

test: build
	@scripts/deps.sh test
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)
	$(MAKE) --no-print-directory test-asan

test-asan: deps
	cmake --preset asan $(GENERATOR) $(WERROR) >/dev/null
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	ctest --test-dir $(ASAN_BUILD) --output-on-failure -j $(JOBS)

bench: build
	$(BUILD)/bin/bench_hj212
	$(BUILD)/bin/bench_rules

deb:
	@scripts/deps.sh test
	scripts/deb.sh

reference: build
	python3 tests/docs/reference.py $(BUILD)/bin/ecowarnd OPERATING.md --write

fuzz:
	@scripts/deps.sh fuzz
	CC=clang-14 cmake --preset fuzz $(GENERATOR) >/dev/null
	cmake --build $(FUZZ_BUILD) -j $(JOBS)
	tests/fuzz/run.sh $(FUZZ_BUILD)/bin $(FUZZ_SECONDS)

format:
	@scripts/deps.sh format
	clang-format-14 -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD) build-deb
