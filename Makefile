# certkit: thin wrapper around CMake + Ninja + CTest.
#
#   make demo    install missing build deps, build, run the main job
#   make check   install missing deps, fresh -Werror ASan/UBSan build, every test
#                (the memory bounds of tests/mem in a Release build)
#   make bench   release build, run bench/, rewrite docs/PERFORMANCE.md
#   make fuzz    clang libFuzzer build, run each target for FUZZ_SECONDS
#   make install PREFIX=/usr/local
BUILD       ?= build
CHECK_BUILD ?= build-check
MEM_BUILD   ?= build-check-mem
BENCH_BUILD ?= build-bench
FUZZ_BUILD  ?= build-fuzz
FUZZ_SECONDS ?= 60
PREFIX      ?= /usr/local
JOBS        ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: all demo check bench fuzz install clean deps deps-build

all: $(BUILD)/build.ninja
	cmake --build $(BUILD)

deps-build:
	@scripts/deps --build

deps:
	@scripts/deps

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
		-DCMAKE_INSTALL_PREFIX=$(PREFIX)

# Configured only after deps-build, even under make -j: configuring needs them.
demo: deps-build
	@$(MAKE) --no-print-directory $(BUILD)/build.ninja
	cmake --build $(BUILD) --target certkit_cli mkpki
	sh scripts/demo.sh $(BUILD)

check: deps
	rm -rf $(CHECK_BUILD)
	cmake -S . -B $(CHECK_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug \
		-DCERTKIT_WERROR=ON -DCERTKIT_SANITIZE=ON
	cmake --build $(CHECK_BUILD)
	# Memory bounds need a build without sanitizers (tests/mem),
	cmake -S . -B $(MEM_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release \
		-DCERTKIT_WERROR=ON
	cmake --build $(MEM_BUILD) --target certkit_cli mkpki peakrss
	# and so does the test suite two years ahead under faketime (tests/clock).
	cd $(MEM_BUILD) && ctest --output-on-failure -R '^(mem_|clock_)'
	cd $(CHECK_BUILD) && ctest --output-on-failure -j $(JOBS)

bench:
	@scripts/deps --bench
	cmake -S . -B $(BENCH_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release
	cmake --build $(BENCH_BUILD)
	sh bench/run.sh $(BENCH_BUILD)

fuzz: deps
	CC=clang cmake -S . -B $(FUZZ_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug \
		-DCERTKIT_FUZZ=ON -DCERTKIT_TESTS=OFF
	cmake --build $(FUZZ_BUILD)
	sh fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

install: all
	cmake --install $(BUILD)

clean:
	rm -rf $(BUILD) $(CHECK_BUILD) $(MEM_BUILD) $(BENCH_BUILD) $(FUZZ_BUILD)
