# ioserve: `make run` serves on 127.0.0.1:8080, `make test` runs every test.
# Both first install whatever Debian packages are missing (as root), then configure and build.

BUILD      ?= build
ASAN_BUILD ?= build-asan
TSAN_BUILD ?= build-tsan
LISTEN     ?= 127.0.0.1:8080
ARGS       ?= --root www
MESON_OPTS := $(if $(filter true,$(CI)),-Dwerror=true,)

# Build, test and benchmark needs, one Debian package each.
DEB_PACKAGES := gcc pkg-config meson ninja-build liburing-dev libcmocka-dev libseccomp-dev \
                zlib1g-dev libssl-dev node-llhttp curl python3 python3-websockets python3-h11 \
                python3-wsproto wrk slowhttptest

.PHONY: all deps build run test test-unit test-asan test-tsan clean bench bench-full bench-deps soak

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

# A long mixed load on each backend (side by side), judged on failed requests and on RSS or
# descriptor growth after the first minute; writes $(BUILD)/soak/soak-<time>.json (docs/soak.md).
SOAK_SECONDS  ?= 600
SOAK_BACKENDS ?= uring epoll-lt epoll-et
soak: build
	/usr/bin/python3 bench/soak/soak.py --build $(BUILD) --seconds $(SOAK_SECONDS) \
	  --backends "$(SOAK_BACKENDS)"

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(TSAN_BUILD)
