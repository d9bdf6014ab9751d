# ioserve: `make run` serves on 127.0.0.1:8080, `make test` runs every test.
# Both first install whatever Debian packages are missing (as root), then configure and build.

BUILD      ?= build
ASAN_BUILD ?= build-asan
TSAN_BUILD ?= build-tsan
FAULT_BUILD ?= build-fault
FUZZ_BUILD ?= build-fuzz
FUZZ_STATIC_BUILD ?= build-fuzz-static
FUZZ_SECONDS ?= 60
FUZZ_JOBS ?= $(shell nproc)
LISTEN     ?= 127.0.0.1:8080
ARGS       ?= --root www
MESON_OPTS := $(if $(filter true,$(CI)),-Dwerror=true,)

# Build, test and benchmark needs, one Debian package each.
DEB_PACKAGES := gcc pkg-config meson ninja-build liburing-dev libcmocka-dev libseccomp-dev libsystemd-dev \
                zlib1g-dev libssl-dev libmsgpack-dev node-llhttp curl python3 python3-websockets \
                python3-h11 python3-msgpack systemd help2man \
                python3-wsproto wrk slowhttptest

.PHONY: all deps build install run test test-unit test-asan test-tsan test-fault clean bench bench-full bench-deps \
        fuzz fuzz-build fuzz-deps soak

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

# The binary, both libraries, the public headers (include/ioserve/), their pkg-config files,
# ioserve(1) and the LICENSE, under PREFIX (default /usr/local), staged under DESTDIR if set.
PREFIX ?= /usr/local
install: build
	meson configure $(BUILD) -Dprefix=$(PREFIX)
	ninja -C $(BUILD)
	meson install -C $(BUILD) --no-rebuild $(if $(DESTDIR),--destdir $(DESTDIR))

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

# Every test that starts threads, under ThreadSanitizer: the loop suites (their client threads,
# cross-loop posts), the proactor's thread hand-over, the thread suite (several loops, dispatch,
# the worker pool, shutdown), msgpack-rpc's worker calls, the in-process WebSocket server
# thread, server_stop() from another thread, ioload's threads and the thread baselines.  Only what they need is built, a race makes
# the program exit 66, which the tests see, and the WebSocket crowd is 200 clients instead of
# 1,000 (a race needs two threads, not a thousand), with timeouts tripled for TSan's pace.
TSAN_ENV := TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 WS_CONCURRENT=200
TSAN_TARGETS := src/ioserve tests/test_threads tests/test_loop_post tests/test_loop tests/test_uring_probe \
                tests/test_rpc_conn tests/test_rpc_frame tests/test_ws_e2e tests/test_ioload bench/ioload tests/test_baselines \
                tests/test_server_api \
                bench/baselines/baseline-threads bench/baselines/baseline-pool
TSAN_SUITES := --suite loop --suite proactor --suite threads --suite rpc
TSAN_TESTS := ws-e2e-uring ws-e2e-epoll ws-e2e-poll ws-e2e-select ioload-uring ioload-epoll \
              server-api-uring server-api-epoll-lt \
              baseline-threads baseline-pool
test-tsan: deps $(TSAN_BUILD)/build.ninja
	ninja -C $(TSAN_BUILD) $(TSAN_TARGETS)
	$(TSAN_ENV) meson test -C $(TSAN_BUILD) --no-rebuild --print-errorlogs --timeout-multiplier 3 \
	  $(TSAN_SUITES) --no-suite bench-script
	$(TSAN_ENV) meson test -C $(TSAN_BUILD) --no-rebuild --print-errorlogs --timeout-multiplier 3 \
	  $(TSAN_TESTS)

$(FAULT_BUILD)/build.ninja: | deps
	meson setup $(FAULT_BUILD) $(MESON_OPTS) -Dfault_injection=true -Db_sanitize=address,undefined -Db_lundef=false

# The fault classes of docs/faults.md against the real binary with its fault hooks compiled in,
# under AddressSanitizer + UBSan, so a fault that leaks or corrupts fails the test; only the
# binary and the test program are built.
test-fault: deps $(FAULT_BUILD)/build.ninja
	ninja -C $(FAULT_BUILD) src/ioserve tests/test_fault
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	  meson test -C $(FAULT_BUILD) --no-rebuild --suite fault --print-errorlogs

test: test-unit test-fault
	@if [ "$(CI)" = true ]; then $(MAKE) --no-print-directory test-asan test-tsan; fi

bench-deps:
	@$(MAKE) --no-print-directory deps DEB_PACKAGES="$(BENCH_PACKAGES)"

# Every server x workload cell, pinned and round-robin; writes bench/results/, docs/benchmarks.md
# and docs/img/.  `bench` is the quick subset with every issue-7 target and issue 11's idle cell (about 17 minutes),
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

# A long mixed load on each backend (side by side), judged on failed requests and on RSS or
# descriptor growth after the first minute; writes $(BUILD)/soak/soak-<time>.json (docs/soak.md).
SOAK_SECONDS  ?= 600
SOAK_BACKENDS ?= uring epoll-lt epoll-et
soak: build
	/usr/bin/python3 bench/soak/soak.py --build $(BUILD) --seconds $(SOAK_SECONDS) \
	  --backends "$(SOAK_BACKENDS)"

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(TSAN_BUILD) $(FAULT_BUILD) $(FUZZ_BUILD) $(FUZZ_STATIC_BUILD)
