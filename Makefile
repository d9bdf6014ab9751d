# ioserve: `make run` serves on 127.0.0.1:8080, `make test` runs every test.
# Both first install whatever Debian packages are missing (as root), then configure and build.

BUILD      ?= build
ASAN_BUILD ?= build-asan
TSAN_BUILD ?= build-tsan
FUZZ_BUILD ?= build-fuzz
FUZZ_STATIC_BUILD ?= build-fuzz-static
FUZZ_SECONDS ?= 60
FUZZ_JOBS ?= $(shell nproc)
LISTEN     ?= 127.0.0.1:8080
ARGS       ?= --root www
MESON_OPTS := $(if $(filter true,$(CI)),-Dwerror=true,)

# Build, test and benchmark needs, one Debian package each.
DEB_PACKAGES := gcc pkg-config meson ninja-build liburing-dev libcmocka-dev libseccomp-dev \
                zlib1g-dev libssl-dev node-llhttp curl python3 python3-websockets python3-h11 \
                python3-wsproto wrk slowhttptest

.PHONY: all deps build run test test-unit test-asan test-tsan clean bench bench-full bench-deps \
        fuzz fuzz-build fuzz-deps

# What `make bench` measures against and draws with, installed only when benchmarking.
BENCH_PACKAGES := nginx-light gnuplot-nox strace h2o

all: build

deps:
	@missing=$$(for p in $(DEB_PACKAGES); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; \
	  done); \
	if [ -n "$$missing" ]; then \
	  echo "make: installing missing packages:" $$missing; \
	  if [ "$$(id -u)" -ne 0 ]; then \
	    echo "make: not root; run: sudo apt-get install -y" $$missing >&2; exit 1; \
	  fi; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get install -y --no-install-recommends $$missing || \
	    { apt-get update && apt-get install -y --no-install-recommends $$missing; }; \
	fi

$(BUILD)/build.ninja: | deps
	meson setup $(BUILD) $(MESON_OPTS)

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

run: build
	./$(BUILD)/src/ioserve --listen $(LISTEN) --backend auto $(ARGS)

test-unit: build
	meson test -C $(BUILD) --print-errorlogs

$(ASAN_BUILD)/build.ninja: | deps
	meson setup $(ASAN_BUILD) $(MESON_OPTS) -Db_sanitize=address,undefined -Db_lundef=false

# The whole suite again under AddressSanitizer + UndefinedBehaviorSanitizer.
test-asan: deps $(ASAN_BUILD)/build.ninja
	ninja -C $(ASAN_BUILD)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	  meson test -C $(ASAN_BUILD) --no-suite bench-script --print-errorlogs

$(TSAN_BUILD)/build.ninja: | deps
	meson setup $(TSAN_BUILD) $(MESON_OPTS) -Db_sanitize=thread -Db_lundef=false

# The thread suite (several loops, dispatch, the worker pool, shutdown) and the cross-loop
# posts under ThreadSanitizer: only what they need is built, and a race makes the program
# exit 66, which the tests see.
TSAN_ENV := TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1
test-tsan: deps $(TSAN_BUILD)/build.ninja
	ninja -C $(TSAN_BUILD) src/ioserve tests/test_threads tests/test_loop_post
	$(TSAN_ENV) meson test -C $(TSAN_BUILD) --no-rebuild --suite threads --print-errorlogs
	$(TSAN_ENV) meson test -C $(TSAN_BUILD) --no-rebuild --print-errorlogs \
	  loop-post-uring loop-post-uring-basic loop-post-epoll-lt loop-post-epoll-et

test: test-unit
	@if [ "$(CI)" = true ]; then $(MAKE) --no-print-directory test-asan test-tsan; fi

bench-deps:
	@$(MAKE) --no-print-directory deps DEB_PACKAGES="$(BENCH_PACKAGES)"

# Every server x workload cell, pinned and round-robin; writes bench/results/, docs/benchmarks.md
# and docs/img/.  `bench` is the quick subset with every issue-7 target (about 10 minutes),
# `bench-full` the whole matrix.
bench: build bench-deps
	/usr/bin/python3 bench/compare/compare.py --build $(BUILD)

bench-full: build bench-deps
	/usr/bin/python3 bench/compare/compare.py --build $(BUILD) --full

# The libFuzzer harnesses of tests/fuzz (docs/fuzzing.md), built by clang with ASan + UBSan
# (any finding aborts).  `make fuzz` runs each for FUZZ_SECONDS, FUZZ_JOBS at a time, and fails
# on any crash, leak, hang or broken invariant, naming the reproducer.
FUZZ_PACKAGES := clang libfuzzer-14-dev
FUZZ_OPTS := -Dfuzz=true -Dtests=false -Db_sanitize=address,undefined -Db_lundef=false \
             -Dc_args=-fno-sanitize-recover=all

fuzz-deps:
	@$(MAKE) --no-print-directory deps DEB_PACKAGES="$(FUZZ_PACKAGES)"

$(FUZZ_BUILD)/build.ninja: | fuzz-deps
	CC=clang meson setup $(FUZZ_BUILD) $(FUZZ_OPTS)

fuzz: fuzz-deps $(FUZZ_BUILD)/build.ninja
	ninja -C $(FUZZ_BUILD) fuzzers
	rm -rf $(FUZZ_BUILD)/run
	tests/fuzz/run_fuzzers.sh $(FUZZ_BUILD)/tests/fuzz tests/fuzz/corpus $(FUZZ_SECONDS) $(FUZZ_JOBS) \
	  $(FUZZ_BUILD)/run

# The same harnesses as self-contained binaries (zlib, libcrypto and the C++ runtime linked in;
# they need only a glibc as new as this machine's), bundled with their seeds and the runner:
# copy $(FUZZ_STATIC_BUILD)/ioserve-fuzz.tar.gz anywhere, then
#   tar xzf ioserve-fuzz.tar.gz && cd ioserve-fuzz && ./run_fuzzers.sh bin corpus SECONDS JOBS results
$(FUZZ_STATIC_BUILD)/build.ninja: | fuzz-deps
	CC=clang meson setup $(FUZZ_STATIC_BUILD) $(FUZZ_OPTS) -Dprefer_static=true

fuzz-build: fuzz-deps $(FUZZ_STATIC_BUILD)/build.ninja
	ninja -C $(FUZZ_STATIC_BUILD) fuzzers
	rm -rf $(FUZZ_STATIC_BUILD)/ioserve-fuzz
	mkdir -p $(FUZZ_STATIC_BUILD)/ioserve-fuzz/bin
	find $(FUZZ_STATIC_BUILD)/tests/fuzz -maxdepth 1 -name 'fuzz_*' -type f -perm -u+x \
	  -exec cp {} $(FUZZ_STATIC_BUILD)/ioserve-fuzz/bin/ \;
	cp -r tests/fuzz/corpus tests/fuzz/run_fuzzers.sh $(FUZZ_STATIC_BUILD)/ioserve-fuzz/
	tar czf $(FUZZ_STATIC_BUILD)/ioserve-fuzz.tar.gz -C $(FUZZ_STATIC_BUILD) ioserve-fuzz
	@echo "fuzz-build: $(FUZZ_STATIC_BUILD)/ioserve-fuzz.tar.gz"

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(TSAN_BUILD) $(FUZZ_BUILD) $(FUZZ_STATIC_BUILD)
